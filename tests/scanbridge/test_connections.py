"""`scanbridge connections`: every vendor's connections with their state and their health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consumers import health
from consumers.errors import ServerError
from scanbridge.cli import app

TOKEN = "t" * 32
WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "scanbridge.toml"
    path.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        '[[itero]]\nid = "clinic-1"\ncompany_id = "42"\nbase_url = "http://127.0.0.1:1"\n'
        f'token_url = "http://127.0.0.1:1/t"\naccess_token = "a"\nrefresh_token = "r"\n'
        f'webhook.token = "{TOKEN}"\n'
        '[[meditlink]]\nid = "lab-m"\nclient_id = "c"\nclient_secret = "s"\n'
        f'webhook.token = "{TOKEN}m"\n'
        '[[threeshape]]\nid = "clinic-3"\nhost = "pc.example"\nuser = "u"\npassword = "p"\n')
    monkeypatch.setenv("SCANBRIDGE_CONFIG", str(path))
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    return tmp_path / "state"


def test_every_vendor_is_listed_with_its_state_and_health(config: Path) -> None:
    health.record_ok(config, "itero", "clinic-1", WHEN)
    health.record_error(config, "itero", "clinic-1", ServerError("GET orders/practice: 503"),
                        WHEN.replace(minute=45))
    health.record_error(config, "meditlink", "lab-m", "ReauthorizationRequired: not connected", WHEN)
    health.record_ok(config, "3shape", "clinic-3", WHEN)

    listed = CliRunner().invoke(app, ["connections", "--json"])

    assert listed.exit_code == 0, listed.output
    rows = {r["vendor"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(rows) == {"itero", "meditlink", "3shape"}
    itero, medit, threeshape = rows["itero"], rows["meditlink"], rows["3shape"]
    assert (itero["status"], itero["health"]) == ("active", "failing")
    assert itero["last_ok_at"] == "2026-11-02T09:30:00+00:00"
    assert itero["failing_since"] == "2026-11-02T09:45:00+00:00"
    assert itero["last_error"] == "ServerError: GET orders/practice: 503"
    assert (medit["status"], medit["health"], medit["last_ok_at"]) == ("not connected yet", "failing", None)
    assert (threeshape["status"], threeshape["health"], threeshape["failing_since"]) == ("active", "ok", None)

    text = CliRunner().invoke(app, ["connections"]).stdout
    assert "itero/clinic-1" in text and "failing since 2026-11-02T09:45:00+00:00: ServerError" in text
    assert "last ok 2026-11-02T09:30:00+00:00" in text
    assert "meditlink/lab-m" in text and "not connected yet" in text
    assert "3shape/clinic-3" in text and "ok, last call 2026-11-02T09:30:00+00:00" in text


def test_a_connection_without_any_call_yet_says_so(config: Path) -> None:
    listed = CliRunner().invoke(app, ["connections", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["health"] for r in rows} == {"unknown"}
    assert "no call yet" in CliRunner().invoke(app, ["connections"]).stdout
