"""The Medit Link poller: every page, 204 and 429 handled, persisted cursor, nothing announced twice
(meditlink-openapi.txt §3.3.1, §3.5.1, §2.3.1)."""

from __future__ import annotations

from typing import Any

from consumers.health import label
from consumers.meditlink.oauth import key_of
from schemas.topics import SCAN_NOTIFIED
from tests.events import settle
from tests.meditlink.conftest import Stack


async def _notified(stack: Stack) -> list[dict[str, Any]]:
    events = await settle(stack.bus, [stack.topics.events], quiet_s=1.0)
    return [e.json_data() for e in events if e.type == SCAN_NOTIFIED]


async def test_new_orders_are_announced_across_every_page(stack: Stack, http: Any) -> None:
    await stack.connect()
    for _ in range(45):  # two pages of at most 40 (§3.5.1)
        stack.sim.create_order(stack.sim.create_case(files=[]).uuid)
    assert await stack.poller(http).poll_once() == 45
    assert label(await stack.shared.health.read(key_of(stack.connection))) == "ok"
    notified = await _notified(stack)
    assert len({n["order_id"] for n in notified}) == 45
    assert all(n["learned_by"] == "poll" and n["case_id"] and n["version"] for n in notified)
    assert stack.requests("/v1/orders/search") == 2


async def test_a_restarted_poller_announces_nothing_that_did_not_change(stack: Stack, http: Any) -> None:
    await stack.connect()
    case = stack.sim.create_case()
    order = stack.sim.create_order(case.uuid)
    assert await stack.poller(http).poll_once() == 1
    assert await stack.poller(http).poll_once() == 0  # a new instance reads the persisted cursor
    stack.sim.set_order_status(order.number, "ACCEPTED")
    assert await stack.poller(http).poll_once() == 1
    notified = await _notified(stack)
    assert [n["status"] for n in notified] == ["PENDING", "ACCEPTED"]


async def test_a_case_without_an_order_is_announced_and_changes_are_seen(stack: Stack, http: Any) -> None:
    await stack.connect("meditlink.api.clinic@medit.com")
    case = stack.sim.create_case(status="FORM")
    poller = stack.poller(http)
    assert await poller.poll_once() == 1
    assert await poller.poll_once() == 0
    stack.sim.set_case_status(case.uuid, "SCAN")
    assert await poller.poll_once() == 1
    seen = [(n["case_id"], n["status"]) for n in await _notified(stack)]
    assert seen == [(case.uuid, "FORM"), (case.uuid, "SCAN")]


async def test_throttling_and_server_errors_are_backed_off_then_polling_succeeds(stack: Stack,
                                                                                 http: Any) -> None:
    await stack.connect()
    stack.sim.create_order(stack.sim.create_case().uuid)
    stack.sim.fail_next("/v1/orders/search", 429, count=2, retry_after=0)
    stack.sim.fail_next("/v1/cases/search", 500, count=1)
    assert await stack.poller(http).poll_once() == 1
    assert stack.requests("/v1/orders/search") == 3 and stack.requests("/v1/cases/search") == 2


async def test_an_empty_window_is_a_204_and_announces_nothing(stack: Stack, http: Any) -> None:
    await stack.connect()
    assert await stack.poller(http).poll_once() == 0
    assert stack.requests("/v1/orders/search") == 1
