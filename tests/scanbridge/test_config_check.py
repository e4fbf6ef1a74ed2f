"""`scanbridge config check` and every command: a broken configuration gives one line per problem —
where, which key, what to do — and never a traceback or a fragment of a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanbridge.cli import app
from schemas.settings import CONFIG_ENV, SECRETS_DIR_ENV

SECRETS = ["ACCESS-secret-aaaa", "REFRESH-secret-bbbb", "short-secret-cccc", "hunter2-kafka",
           "pg-password-dddd", "JSON-secret-eeee", "12345678901234567"]
ITERO = """
[[itero]]
id = "clinic-1"
base_url = "https://itero.example"
token_url = "https://itero.example/token"
access_token = "ACCESS-secret-aaaa"
refresh_token = "REFRESH-secret-bbbb"
webhook.token = "webhook-token-0123456789abcdef"
"""

# (name, file content or None for no file, environment, lines the output must contain)
BROKEN: list[tuple[str, str | None, dict[str, str], list[str]]] = [
    ("log level", 'log_level = "verbose"\n', {},
     ["{file}: log_level: must be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"]),
    ("misspelt key", '[bus.kafka]\nsecurty_protocol = "SSL"\n', {},
     ["{file}: bus.kafka.securty_protocol: unknown key; remove it or fix its spelling "
      "(did you mean 'security_protocol'?)"]),
    ("misspelt section", "[recevier]\nport = 8800\n", {},
     ["{file}: recevier: unknown key; remove it or fix its spelling (did you mean 'receiver'?)"]),
    ("short webhook token", ITERO.replace("webhook-token-0123456789abcdef", "short-secret-cccc"), {},
     ["{file}: itero[0].webhook.token (connection 'clinic-1'): webhook token must be at least 22 "
      "characters (128 bits); make one with `scanbridge token`"]),
    ("sasl without password", '[bus.kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_mechanism = "PLAIN"\n'
     'sasl_username = "scanbridge"\n', {},
     ["{file}: bus.kafka: security_protocol SASL_SSL needs sasl_password"]),
    ("sasl password file missing", '[bus.kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_mechanism = "PLAIN"\n'
     'sasl_username = "u"\nsasl_password_file = "/nonexistent/kafka-password"\n', {},
     ["{file}: bus.kafka: sasl_password_file: cannot read /nonexistent/kafka-password "
      "(No such file or directory)"]),
    ("wrong type", '[receiver]\nport = "eighty"\n', {},
     ["{file}: receiver.port: Input should be a valid integer, unable to parse string as an integer"]),
    ("secret of the wrong type", ITERO.replace('"REFRESH-secret-bbbb"', "12345678901234567"), {},
     ["{file}: itero[0].refresh_token (connection 'clinic-1'): Input should be a valid string"]),
    ("required key missing", ITERO.replace('token_url = "https://itero.example/token"\n', ""), {},
     ["{file}: itero[0].token_url (connection 'clinic-1'): required but not set; add it "
      "(pairing token endpoint used for the refresh-token exchange)"]),
    ("align polled too often", ITERO.replace('id = "clinic-1"', 'id = "lab-1"\nvendor = "align"\n'
                                             "poll_interval_s = 60"), {},
     ["{file}: itero[0] (connection 'lab-1'): poll_interval_s of an Align lab connection must be at "
      "least 120 s (Align lab guideline §3.7.1)"]),
    ("invalid toml with a secret on the line", 'state_dir = "var"\naccess_token = ACCESS-secret-aaaa\n', {},
     ["{file}: not valid TOML: Invalid value (at line 2, column 16); fix the syntax there"]),
    ("bad environment variable", "", {"SCANBRIDGE_RECEIVER__PORT": "eighty"},
     ["environment SCANBRIDGE_RECEIVER__PORT: receiver.port: Input should be a valid integer, "
      "unable to parse string as an integer"]),
    ("environment JSON that does not parse", "", {"SCANBRIDGE_ITERO": '[{"access_token": "JSON-secret-eeee"'},
     ['error parsing value for field "itero" from source "EnvSettingsSource": check the SCANBRIDGE_… '
      "environment variables and SCANBRIDGE_SECRETS_DIR (lists and tables are given as JSON there)"]),
    ("postgres dsn from a missing secret file",
     '[state]\nbackend = "postgres"\ndsn_file = "/nonexistent/dsn"\n', {},
     ["{file}: state: dsn_file: cannot read /nonexistent/dsn (No such file or directory)"]),
    ("config file missing", None, {},
     ["SCANBRIDGE_CONFIG (or --config) names {file}, which does not exist"]),
]


def _isolated_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith("SCANBRIDGE_") or name == "KAFKA_BOOTSTRAP":
            monkeypatch.delenv(name)
    monkeypatch.setenv(CONFIG_ENV, "set-by-the-test")  # restored afterwards, whatever --config sets
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("content", "env", "expected"), [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_a_broken_configuration_gives_one_line_per_problem_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, env: dict[str, str],
    expected: list[str],
) -> None:
    _isolated_env(monkeypatch, env)
    config = tmp_path / "scanbridge.toml"
    if content is not None:
        config.write_text(content)
    result = CliRunner().invoke(app, ["--config", str(config), "config", "check"])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines == [line.format(file=config) for line in expected]
    for secret in SECRETS:
        assert secret not in result.output


def test_a_good_configuration_is_summarised_with_tokens_and_passwords_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "scanbridge_bus__kafka__sasl_password").write_text("hunter2-kafka\n")
    _isolated_env(monkeypatch, {SECRETS_DIR_ENV: str(secrets)})
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    refresh = tmp_path / "refresh-token"
    refresh.write_text("REFRESH-secret-bbbb\n")
    config = tmp_path / "scanbridge.toml"
    config.write_text(f"""
[bus]
backend = "kafka"
[bus.kafka]
bootstrap = "b-1.kafka.example:9096"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "scanbridge"
ssl_cafile = "{ca}"
create_topics = false
[state]
backend = "postgres"
dsn = "postgresql://scanbridge:pg-password-dddd@db.example:5432/scanbridge"
[storage]
backend = "s3"
[storage.s3]
bucket = "scans"
region = "eu-central-1"
[receiver]
public_url = "https://hooks.example"
{ITERO.replace('refresh_token = "REFRESH-secret-bbbb"', f'refresh_token_file = "{refresh}"')}""")
    result = CliRunner().invoke(app, ["--config", str(config), "config", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"config: {config}; secret files from {secrets}"
    assert (f"bus: kafka at b-1.kafka.example:9096 (SASL_SSL, SCRAM-SHA-512 as 'scanbridge', CA {ca})"
            in lines)
    assert "state: postgres postgresql://scanbridge:****@db.example:5432/scanbridge" in lines
    assert "artifacts: s3 bucket 'scans' at AWS S3 eu-central-1 (spool in var/artifacts)" in lines
    assert "    hook: https://hooks.example/hooks/itero/****" in lines
    assert lines[-1] == "configuration OK"
    for secret in [*SECRETS, "webhook-token-0123456789abcdef"]:
        assert secret not in result.output


def test_every_command_reports_a_broken_configuration_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('log_level = "loud"\n[[itero]]\nid = "x"\nwebhook.token = "short-secret-cccc"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_") and k != "KAFKA_BOOTSTRAP"}
    cli = Path(sys.executable).parent / "scanbridge"
    run = subprocess.run([str(cli), "--config", str(config), "run"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=60)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "short-secret" not in run.stderr
    assert run.stderr.splitlines()[0] == (
        f"scanbridge: {config}: log_level: must be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'")
    assert len(run.stderr.splitlines()) == 6  # log_level, the token, 4 required keys of the connection
    missing = subprocess.run([str(cli), "--config", str(tmp_path / "absent.toml"), "worker"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    absent = tmp_path / "absent.toml"
    assert (missing.returncode, missing.stderr) == (
        2, f"scanbridge: SCANBRIDGE_CONFIG (or --config) names {absent}, which does not exist\n")


def test_version_is_printed() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("scanbridge ")
