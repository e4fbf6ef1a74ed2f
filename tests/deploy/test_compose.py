"""deploy/compose.yaml: a valid Compose file (compose-go, the library `docker compose` is built on),
whose scanbridge services run real commands, are checked on the ports they serve, and load their
configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scanbridge.cli import app
from scanbridge.configload import load_settings
from schemas.settings import CONFIG_ENV
from state.factory import make_state_store
from tests.deploy.conftest import DEPLOY, run, secret_files, tool

COMPOSE = DEPLOY / "compose.yaml"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_the_compose_file_is_valid() -> None:
    done = run(tool("deploycheck"), "compose", COMPOSE)
    assert (done.returncode, done.stdout) == (0, f"{COMPOSE}: ok\n"), done.stdout + done.stderr


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    broken = _compose()
    broken["services"]["worker"]["restartt"] = "always"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    (tmp_path / "compose").mkdir()
    done = run(tool("deploycheck"), "compose", path)
    assert done.returncode == 1 and "restartt" in done.stdout


def test_the_stack_has_its_backends_and_three_scanbridge_processes_with_healthchecks() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "s3", "receiver", "worker", "poller", "deliver"} <= set(services)
    commands = {name: services[name]["command"][0] for name in ("receiver", "worker", "poller", "deliver")}
    assert commands == {"receiver": "receiver", "worker": "worker", "poller": "poller", "deliver": "deliver"}
    registered = {c.name for c in app.registered_commands}
    assert set(commands.values()) <= registered
    for name in ("worker", "poller", "deliver"):  # the image's healthcheck reads SCANBRIDGE_HEALTH_URL
        assert services[name]["environment"]["SCANBRIDGE_HEALTH_URL"] == "http://127.0.0.1:8710/healthz"
    assert services["receiver"]["ports"] == ["127.0.0.1:8700:8700"]  # behind the TLS proxy only
    assert services["console"]["ports"] == ["127.0.0.1:8720:8720"]  # this host only
    assert services["console"]["command"] == ["console"]
    for backend in ("kafka", "postgres"):
        assert "healthcheck" in services[backend]


def test_the_compose_configuration_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = list(_compose()["secrets"])
    folder = secret_files(tmp_path, secrets)
    config = tmp_path / "scanbridge.toml"
    shipped = (DEPLOY / "compose" / "scanbridge.toml").read_text()
    config.write_text(shipped.replace("/run/secrets", str(folder)))
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    settings = load_settings()
    assert (settings.bus.backend, settings.bus.kafka.bootstrap, settings.state.backend) == (
        "kafka", "kafka:9092", "postgres")
    assert (settings.receiver.host, settings.ops.host) == ("0.0.0.0", "0.0.0.0")
    assert (settings.storage.backend, settings.storage.s3.endpoint) == ("s3", "http://s3:80")
    assert make_state_store(settings.state, environ={}) is not None  # the credentials key from its secret
    assert settings.privacy.hash_key is not None
    assert settings.console.enabled and settings.console.session_key is not None


def test_pollers_run_two_replicas_and_no_scanbridge_services_share_a_volume() -> None:
    services = _compose()["services"]
    assert services["poller"]["deploy"]["replicas"] == 2  # leases spread the connections
    mounted: dict[str, list[str]] = {}
    for name in ("receiver", "worker", "poller", "deliver"):
        for volume in services[name].get("volumes", []):
            mounted.setdefault(volume.split(":")[0], []).append(name)
    assert all(len(users) == 1 for users in mounted.values()), mounted  # state in PostgreSQL, artifacts in S3
    assert "data" not in _compose()["volumes"]
