"""`scanbridge connections`: every vendor's connections with their state and their health."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consumers.errors import ServerError
from scanbridge.cli import app
from scanbridge.runtime import load_settings
from state.base import ConnectionKey
from tests.shared import shared_state

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


async def _record() -> None:
    async with shared_state(load_settings()) as shared:
        book = shared.health
        await book.ok(ConnectionKey("itero", "clinic-1"), WHEN)
        await book.error(ConnectionKey("itero", "clinic-1"), ServerError("GET orders/practice: 503"),
                         WHEN.replace(minute=45))
        await book.error(ConnectionKey("meditlink", "lab-m"), "ReauthorizationRequired: not connected", WHEN)
        await book.ok(ConnectionKey("3shape", "clinic-3"), WHEN)


def test_every_vendor_is_listed_with_its_state_and_health(config: Path) -> None:
    asyncio.run(_record())

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


def test_a_connection_is_added_shown_without_secrets_replaced_and_removed(config: Path,
                                                                         tmp_path: Path) -> None:
    table = tmp_path / "clinic-9.toml"
    table.write_text('id = "clinic-9"\ncompany_id = "99"\nbase_url = "http://127.0.0.1:1"\n'
                     'token_url = "http://127.0.0.1:1/t"\naccess_token = "secret-access-9"\n'
                     f'refresh_token = "secret-refresh-9"\nwebhook.token = "{TOKEN}9"\n')
    runner = CliRunner()
    added = runner.invoke(app, ["connections", "add", "itero", str(table)])
    assert added.exit_code == 0 and "itero/clinic-9 added" in added.stdout
    again = runner.invoke(app, ["connections", "add", "itero", str(table)])
    assert again.exit_code == 2 and "--replace" in again.stderr
    shown = runner.invoke(app, ["connections", "show", "itero/clinic-9", "--json"])
    assert shown.exit_code == 0, shown.output
    row = json.loads(shown.stdout)
    assert row["source"] == "runtime" and row["account"] == "99" and row["settings"]["company_id"] == "99"
    assert "secret-access-9" not in shown.stdout and TOKEN not in shown.stdout
    table.write_text(table.read_text().replace('"99"', '"98"'))
    assert runner.invoke(app, ["connections", "add", "itero", str(table), "--replace"]).exit_code == 0
    output = runner.invoke(app, ["connections", "list", "--json"]).stdout
    listed = [json.loads(line) for line in output.splitlines()]
    assert {(r["connection"], r["account"]) for r in listed if r["vendor"] == "itero"} == {
        ("clinic-1", "42"), ("clinic-9", "98")}
    assert runner.invoke(app, ["connections", "remove", "itero/clinic-9"]).exit_code == 0
    gone = runner.invoke(app, ["connections", "show", "itero/clinic-9"])
    assert gone.exit_code == 2


def test_a_connection_that_does_not_validate_is_refused_with_its_problems_and_not_stored(
        config: Path, tmp_path: Path) -> None:
    table = tmp_path / "bad.json"
    table.write_text(json.dumps({"id": "lab", "vendor": "align", "poll_interval_s": 30,
                                 "webhook": {"token": "short"}, "access_token": "secret-x"}))
    refused = CliRunner().invoke(app, ["connections", "add", "align", str(table)])
    assert refused.exit_code == 2
    assert "webhook.token" in refused.stderr and "base_url" in refused.stderr
    assert "secret-x" not in refused.stderr
    listed = CliRunner().invoke(app, ["connections", "--json"]).stdout
    assert "align" not in listed


def test_removing_a_connection_of_the_configuration_file_says_it_comes_back(config: Path) -> None:
    removed = CliRunner().invoke(app, ["connections", "remove", "itero/clinic-1"])
    assert removed.exit_code == 0 and "configuration file" in removed.stderr
