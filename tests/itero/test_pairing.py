"""Align lab accounts and pairing: the /hooks/align route, the un-paired state (a 401 the refresh cannot
cure) as a visible state and one event instead of a retry loop (Align lab guideline §3.8), and the
orders/lab poll floor (§3.7.1)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from consumers.itero.poller import IteroPoller
from scanbridge.cli import app
from scanbridge.runtime import load_settings
from schemas.settings import IteroConnection, WebhookAuth
from schemas.topics import (
    ARTIFACT_FAILED,
    ARTIFACT_STORED,
    CONNECTION_REAUTHORIZATION_NEEDED,
    ORDER_UPDATED,
    SCAN_NOTIFIED,
)
from simulators.itero.notify import post_notification
from state.base import ConnectionKey, Health
from tests.events import collect, of_type, settle
from tests.itero.conftest import Stack
from tests.shared import shared_state

TOKEN = "t" * 32


async def _health(stack: Stack) -> Health:
    async with shared_state(stack.settings) as shared:
        return await shared.state.connections.health(ConnectionKey("itero", "clinic-1"))


@pytest.mark.parametrize("connection_options", [{"vendor": "align", "poll_interval_s": 120.0}])
async def test_a_notification_for_an_align_lab_account_is_processed_as_align(stack: Stack,
                                                                           worker: object) -> None:
    order = stack.sim.add_order(size=10_000)
    response = await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
    assert response.status_code == 202 and "/hooks/align/" in stack.hook
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    assert of_type(events, SCAN_NOTIFIED)[0].json_data()["vendor"] == "align"
    assert of_type(events, ORDER_UPDATED)[0].source == f"scanbridge/align/{stack.sim.company_id}"
    wrong_route = stack.hook.replace("/hooks/align/", "/hooks/itero/")
    assert (await post_notification(wrong_route, order.rx_id, stack.sim.company_id)).status_code == 404


async def test_an_unpaired_account_becomes_a_state_and_one_event_and_is_not_polled_again(
        stack: Stack, poller: IteroPoller) -> None:
    stack.sim.paired = False  # un-pair: the token is refused and so is the refresh (invalid_grant)
    assert (await poller.poll_once()).skipped == "unpaired"
    assert ("POST", "/oauth/token") in stack.sim.requests
    calls = len(stack.sim.requests)
    assert (await poller.poll_once()).skipped == "unpaired"
    assert len(stack.sim.requests) == calls  # no retry loop against the vendor
    state = await _health(stack)
    assert state.status == "unpaired" and "invalid_grant" in (state.last_error or "")
    events = await settle(stack.bus, [stack.topics.events], quiet_s=1.0)
    event, = of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)
    assert event.json_data()["connection"] == "clinic-1" and event.json_data()["vendor"] == "itero"
    assert event.json_data()["reason"] == "refresh_token_refused"
    connection = stack.settings.itero[0]
    secrets = (connection.access_token.get_secret_value(), connection.refresh_token.get_secret_value())
    assert not any(secret in json.dumps(event.json_data()) for secret in secrets)


async def test_orders_of_an_unpaired_connection_are_dead_lettered_not_retried(stack: Stack,
                                                                             worker: object) -> None:
    stack.sim.paired = False
    first, second = stack.sim.add_order(size=10_000), stack.sim.add_order(size=10_000)
    assert (await post_notification(stack.hook, first.rx_id, stack.sim.company_id)).status_code == 202
    await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    calls = len(stack.sim.requests)
    assert (await post_notification(stack.hook, second.rx_id, stack.sim.company_id)).status_code == 202
    letters = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 2)
    assert all("un-paired" in e.json_data()["reason"] or "invalid_grant" in e.json_data()["reason"]
               for e in letters)
    of_second = next(e for e in letters if second.rx_id in str(e.data))  # partitions: no order across keys
    assert "un-paired" in of_second.json_data()["reason"]
    assert len(stack.sim.requests) == calls  # the second order never reached the vendor
    assert (await _health(stack)).status == "unpaired"
    events = await settle(stack.bus, [stack.topics.events], quiet_s=1.0)
    assert len(of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)) == 1


async def test_a_pairing_refused_during_a_download_marks_the_connection_unpaired(stack: Stack,
                                                                                worker: object) -> None:
    order = stack.sim.add_order(size=10_000)
    stack.sim.unpair_on = "/download/"  # the order fetch works; the account is un-paired before the zips
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    letter, = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    assert "invalid_grant" in letter.json_data()["reason"]
    assert (await _health(stack)).status == "unpaired"
    events = await settle(stack.bus, [stack.topics.events, stack.topics.artifacts], quiet_s=1.0)
    assert len(of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)) == 1
    assert of_type(events, ORDER_UPDATED) and not of_type(events, ARTIFACT_FAILED)  # not an artifact's fault


def test_scanbridge_connections_lists_states_and_reset_clears_an_unpaired_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "scanbridge.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n'
                      '[[itero]]\nid = "lab-1"\nvendor = "align"\ncompany_id = "77"\n'
                      'base_url = "http://127.0.0.1:1"\ntoken_url = "http://127.0.0.1:1/t"\n'
                      f'access_token = "a"\nrefresh_token = "r"\nwebhook.token = "{TOKEN}"\n'
                      '[[itero]]\nid = "clinic-2"\nbase_url = "http://127.0.0.1:1"\n'
                      'token_url = "http://127.0.0.1:1/t"\naccess_token = "a"\nrefresh_token = "r"\n'
                      f'webhook.token = "{TOKEN}x"\n')
    monkeypatch.setenv("SCANBRIDGE_CONFIG", str(config))
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)

    async def unpair() -> None:
        async with shared_state(load_settings()) as shared:
            await shared.state.connections.record_failure(
                ConnectionKey("align", "lab-1"), "unpaired", "refresh token refused (invalid_grant)",
                at=datetime(2026, 11, 20, 10, tzinfo=UTC))

    asyncio.run(unpair())
    runner = CliRunner()
    shown = runner.invoke(app, ["connections", "--json"])
    assert shown.exit_code == 0, shown.output
    rows = {r["connection"]: r for r in map(json.loads, shown.output.splitlines())}
    assert rows["lab-1"]["status"] == "unpaired" and rows["lab-1"]["since"].startswith("2026-11-20")
    assert rows["clinic-2"]["status"] == "active"
    assert "unpaired since 2026-11-20" in runner.invoke(app, ["connections"]).output
    assert runner.invoke(app, ["connections", "reset", "lab-1"]).exit_code == 0
    rows = [json.loads(line) for line in runner.invoke(app, ["connections", "--json"]).output.splitlines()]
    assert {r["status"] for r in rows} == {"active"}


@pytest.mark.parametrize("interval", [1.0, 60.0, 119.9])
def test_an_align_lab_poll_interval_under_120_seconds_is_refused(interval: float) -> None:
    with pytest.raises(ValidationError, match="at least 120"):
        IteroConnection(id="lab", vendor="align", webhook=WebhookAuth(token=TOKEN), base_url="http://x",
                        token_url="http://x/t", access_token="a", refresh_token="r", poll_interval_s=interval)


def test_the_orders_lab_url_is_v1_outside_the_v2_root_and_configurable() -> None:
    common: dict[str, Any] = {"webhook": WebhookAuth(token=TOKEN), "base_url": "https://api.example",
                              "token_url": "https://api.example/t", "access_token": "a", "refresh_token": "r",
                              "discovery_domain": "https://d.example", "discovery_path": "/x/v2/"}
    lab = IteroConnection(id="lab", vendor="align", poll_interval_s=120.0, **common)
    assert lab.orders_url() == "https://api.example/api/third-party/v1/orders/lab"
    assert lab.api_root() == "https://d.example/x/v2"
    moved = IteroConnection(id="lab", vendor="align", lab_orders_url="https://l.example/v1/orders/lab",
                            **common)
    assert moved.orders_url() == "https://l.example/v1/orders/lab"
    practice = IteroConnection(id="c", poll_interval_s=30.0, **common)
    assert practice.orders_url() == "https://d.example/x/v2/orders/practice"
