"""The polling safety net next to the scan notification (itero-dpms-api.txt Get Orders for Practice;
Align lab guideline §3.5, §3.7.1), against the simulator and real Kafka."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from consumers.clock import ManualClock
from consumers.context import Shared
from consumers.errors import ServerError
from consumers.health import label
from consumers.http import new_client
from consumers.itero import pairing
from consumers.itero.poller import IteroPoller
from schemas import ids
from schemas.commands.itero import RX_LINK
from schemas.events import Order
from schemas.settings import PollerSettings
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED, SCAN_NOTIFIED
from simulators.itero.notify import post_notification
from state.commandlog import CommandLog
from tests.events import collect, of_type, settle
from tests.itero.conftest import Stack
from tests.shared import rounds_done, runtime_of, shared_state


def _kinds(events: list[Any]) -> list[str]:
    return sorted(e.json_data()["kind"] for e in of_type(events, ARTIFACT_STORED))


async def test_a_scan_whose_notification_was_lost_is_delivered_by_the_poller(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=30_000)  # no notification posted: it was lost on the way
    result = await poller.poll_once()
    assert result.notified == 1
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    notified, = of_type(events, SCAN_NOTIFIED)
    assert notified.json_data()["learned_by"] == "poll" and notified.json_data()["rx_id"] == order.rx_id
    assert notified.partitionkey == f"itero:{stack.sim.company_id}:{order.rx_id}"
    version = notified.json_data()["version"]
    account = str(stack.sim.company_id)
    assert notified.id == ids.event_id(SCAN_NOTIFIED, "itero", account, order.rx_id, version)
    assert _kinds(events) == ["images", "scan_3d"]


async def test_a_scan_both_notified_and_polled_is_processed_once(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=30_000)
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    assert (await poller.poll_once()).notified == 1
    await collect(stack.bus, [stack.topics.events], lambda ev: len(of_type(ev, SCAN_NOTIFIED)) >= 2)
    events = await settle(stack.bus, [stack.topics.events, stack.topics.artifacts], quiet_s=3.0)
    assert sorted(e.json_data()["learned_by"] for e in of_type(events, SCAN_NOTIFIED)) == ["poll", "webhook"]
    assert len(of_type(events, ORDER_UPDATED)) == 1
    assert _kinds(events) == ["images", "scan_3d"]


async def test_an_unchanged_order_is_notified_once_even_across_a_poller_restart(
        stack: Stack, poller: IteroPoller) -> None:
    stack.sim.add_order(size=10_000)
    assert (await poller.poll_once()).notified == 1
    assert (await poller.poll_once()).notified == 0
    async with new_client(10.0) as http, shared_state(stack.settings) as shared:
        restarted = IteroPoller(stack.settings, stack.settings.itero[0], stack.bus, http, clock=ManualClock(),
                                shared=shared)
        assert (await restarted.poll_once()).notified == 0
    events = await settle(stack.bus, [stack.topics.events], quiet_s=1.0)
    assert len(of_type(events, SCAN_NOTIFIED)) == 1


async def test_a_status_change_seen_by_polling_is_notified_at_its_new_version(
        stack: Stack, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=10_000)
    await poller.poll_once()
    stack.sim.remodel(order.rx_id, "iTero Modeling")
    assert (await poller.poll_once()).notified == 1
    events = await collect(stack.bus, [stack.topics.events], lambda ev: len(ev) >= 2)
    assert [e.json_data()["status"] for e in events] == ["Completed", "iTero Modeling"]
    assert len({e.id for e in events}) == 2


@pytest.mark.parametrize("poller_settings", [PollerSettings(page_size=2)])
async def test_the_poller_reads_every_page_until_has_more_is_false(stack: Stack, poller: IteroPoller) -> None:
    orders = [stack.sim.add_order(size=10_000) for _ in range(5)]
    result = await poller.poll_once()
    assert (result.pages, result.listed, result.notified) == (3, 5, 5)
    pages = [q for path, q in stack.sim.queries if path.endswith("/orders/practice")]
    assert [(q["Offset"], q["pageSize"]) for q in pages] == [("0", "2"), ("2", "2"), ("4", "2")]
    assert all("dateFrom" in q for q in pages)
    events = await collect(stack.bus, [stack.topics.events], lambda ev: len(ev) >= 5)
    assert {e.json_data()["rx_id"] for e in events} == {o.rx_id for o in orders}


@pytest.mark.parametrize("connection_options", [{"vendor": "align", "poll_interval_s": 120.0}])
async def test_an_align_lab_connection_polls_the_v1_orders_lab_list(stack: Stack, worker: object,
                                                                   poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=10_000)
    assert (await poller.poll_once()).notified == 1
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    assert ("GET", "/api/third-party/v1/orders/lab") in stack.sim.requests
    assert not any(p.endswith("/orders/practice") for _, p in stack.sim.requests)
    updated, = of_type(events, ORDER_UPDATED)
    assert updated.json_data()["vendor"] == "align"
    assert updated.partitionkey == f"align:{stack.sim.company_id}:{order.rx_id}"
    assert (await poller.poll_once()).listed == 0  # a downloaded order leaves orders/lab (§3.5)


@pytest.mark.parametrize("connection_options", [{"discovery_domain": "{sim}", "discovery_path": "dpms/v2"}])
async def test_a_discovery_configured_connection_calls_the_discovery_paths(stack: Stack, worker: object,
                                                                          poller: IteroPoller) -> None:
    stack.sim.add_order(size=10_000)
    await poller.poll_once()
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    api_calls = [p for _, p in stack.sim.requests if p != "/oauth/token"]
    assert "/dpms/v2/orders/practice" in api_calls and "/dpms/v2/latest-files" in api_calls
    assert any(p.startswith("/dpms/v2/orders/") and "practice" not in p for p in api_calls)
    assert any(p.startswith("/dpms/v2/order/") and p.endswith("/download/IDE") for p in api_calls)
    assert not any(p.startswith("/api/third-party/v2/") for p in api_calls)


async def test_each_poll_records_the_connections_health(stack: Stack, poller: IteroPoller,
                                                        shared: Shared) -> None:
    key = pairing.key_of(stack.settings.itero[0])
    await poller.poll_once()
    ok = await shared.health.read(key)
    assert label(ok) == "ok" and ok.last_success_at is not None
    stack.sim.fail_next("orders/practice", 503)
    with pytest.raises(ServerError):
        await poller.poll_once()
    failing = await shared.health.read(key)
    assert label(failing) == "failing" and failing.last_success_at == ok.last_success_at
    assert failing.last_error is not None and "503" in failing.last_error
    await poller.poll_once()
    assert (await shared.health.read(key)).failing_since is None


async def test_one_failing_connection_never_stops_the_others(stack: Stack, shared: Shared) -> None:
    good = stack.settings.itero[0]
    broken = good.model_copy(update={"id": "broken", "base_url": "http://127.0.0.1:9",
                                     "webhook": good.webhook})
    settings = stack.settings.model_copy(update={"itero": [broken, good]})
    order = stack.sim.add_order(size=10_000)
    clock = ManualClock()
    async with new_client(5.0) as http:
        pollers = [IteroPoller(settings, c, stack.bus, http, clock=clock, shared=shared)
                   for c in (broken, good)]
        runtime = runtime_of(shared, *pollers, clock=clock)
        await runtime.tick()
        await rounds_done(runtime)
        events = await collect(stack.bus, [stack.topics.events], lambda ev: len(ev) >= 1)
        assert runtime.counters["vendor"] == 1
        await clock.advance(good.poll_interval_s)  # both keep their schedule
        await runtime.tick()
        await rounds_done(runtime)
        await runtime.close()
    assert events[0].json_data()["rx_id"] == order.rx_id
    assert runtime.counters["vendor"] == 2
    assert pollers[0].counters["polls"] == 0 and pollers[1].counters["polls"] == 2


async def test_polled_orders_move_through_every_status_with_their_previous_status(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=8_000)
    flow = ["Completed", "iTero Modeling", "Lab Review", "Scanning", "iTero Milling",
            "Exporting to Doctor Site", "Align Production"]
    for n, status in enumerate(flow):
        if n:
            stack.sim.remodel(order.rx_id, status)
        assert (await poller.poll_once()).notified == 1
        await collect(stack.bus, [stack.topics.events], lambda ev, n=n: len(of_type(ev, ORDER_UPDATED)) > n)
    events = await collect(stack.bus, [stack.topics.events], lambda ev: len(of_type(ev, ORDER_UPDATED)) >= 7)
    updates = [Order.model_validate(e.json_data()) for e in of_type(events, ORDER_UPDATED)]
    assert [u.vendor_status for u in updates] == flow
    assert [u.previous_vendor_status for u in updates] == [None, *flow[:-1]]
    assert [u.stage for u in updates] == ["completed", "modeling", "review", "pending", "production",
                                          "production", "production"]


async def test_a_polled_lab_review_downloads_the_changed_files_again_as_a_new_version(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=20_000)
    await poller.poll_once()
    first = of_type(await collect(stack.bus, [stack.topics.artifacts],
                                  lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2), ARTIFACT_STORED)
    stack.sim.remodel(order.rx_id, "Lab Review")
    await poller.poll_once()
    events = of_type(await collect(stack.bus, [stack.topics.artifacts],
                                   lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 4), ARTIFACT_STORED)
    versions = {e.json_data()["order"]["version"] for e in events}
    assert len(versions) == 2
    assert {e.json_data()["sha256"] for e in events[2:]}.isdisjoint({e.json_data()["sha256"] for e in first})


async def test_a_polled_scan_of_an_rx_a_scan_request_pushed_carries_its_command_id(
        stack: Stack, shared: Shared, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=10_000)
    command_id = str(uuid.uuid4())  # the scan_request that pushed this Rx (consumers/itero/commands.py)
    await CommandLog(shared.state).link("itero", stack.settings.itero[0].id, RX_LINK, order.rx_id, command_id)
    assert (await poller.poll_once()).notified == 1
    events = await collect(stack.bus, [stack.topics.events], lambda ev: len(of_type(ev, SCAN_NOTIFIED)) >= 1)
    assert [e.json_data()["command_id"] for e in of_type(events, SCAN_NOTIFIED)] == [command_id]
