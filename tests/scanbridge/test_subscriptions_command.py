"""`scanbridge subscriptions add | list | rotate-secret | enable | remove` and `replay --subscription`,
from the command line; a private-range URL is refused and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from scanbridge.cli import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    config = tmp_path / "empty.toml"
    config.touch()
    return {"SCANBRIDGE_CONFIG": str(config), "KAFKA_BOOTSTRAP": None,
            "SCANBRIDGE_STATE__PATH": str(tmp_path / "state.sqlite3"),
            "SCANBRIDGE_CREDENTIALS_KEYS": Fernet.generate_key().decode(),
            "SCANBRIDGE_BUS__LOCAL_PATH": str(tmp_path / "bus.sqlite3"), "COLUMNS": "200"}


def _run(args: list[str], env: dict[str, str | None]) -> Result:
    return CliRunner().invoke(app, args, env=env)


@pytest.mark.parametrize(("url", "says"), [
    ("https://10.20.30.40/hooks/scanbridge", "10.20.30.40 is private"),
    ("https://169.254.169.254/latest", "link-local"),
    ("https://localhost/hook", "loopback"),
    ("http://127.0.0.1:9/hook", "must be https"),
])
def test_a_private_range_url_is_refused_and_nothing_is_stored(url: str, says: str,
                                                              env: dict[str, str | None]) -> None:
    refused = _run(["subscriptions", "add", url, "--id", "lab-x"], env)
    assert refused.exit_code == 2 and "refused" in refused.output and says in refused.output
    listed = _run(["subscriptions", "list"], env)
    assert listed.exit_code == 0 and "lab-x" not in listed.output


def test_a_subscription_from_add_to_remove(env: dict[str, str | None]) -> None:
    added = _run(["subscriptions", "add", "http://127.0.0.1:9/hook?token=s3cret", "--id", "lab-x",
                  "--type", "order.completed", "--vendor", "itero", "--allow-private"], env)
    assert added.exit_code == 0, added.output
    secret = added.output.split("secret: ", 1)[1].strip()
    assert secret.startswith("whsec_") and "id: lab-x" in added.output
    assert _run(["subscriptions", "add", "http://127.0.0.1:9/other", "--id", "lab-x", "--allow-private"],
                env).exit_code == 1
    listed = _run(["subscriptions", "list"], env).output
    assert "lab-x" in listed and "order.completed" in listed and "127.0.0.1:9/hook?…" in listed
    assert "s3cret" not in listed and "whsec_" not in listed
    rotated = _run(["subscriptions", "rotate-secret", "lab-x"], env)
    assert rotated.exit_code == 0 and rotated.output.split("secret: ", 1)[1].strip() != secret
    assert "was not disabled" in _run(["subscriptions", "enable", "lab-x"], env).output
    assert _run(["subscriptions", "dead-letters", "lab-x"], env).exit_code == 0
    assert _run(["subscriptions", "remove", "lab-x"], env).exit_code == 0
    assert _run(["subscriptions", "remove", "lab-x"], env).exit_code == 1
    assert _run(["replay", "--subscription", "lab-x", "--from", "2026-11-01T00:00"], env).exit_code == 1


def test_replay_to_a_subscription_takes_only_a_time_range(env: dict[str, str | None]) -> None:
    result = _run(["replay", "--subscription", "lab-x", "--from", "2026-11-01T00:00", "--vendor", "itero"],
                  env)
    assert result.exit_code == 2 and "--subscription takes --from and --to only" in result.output
