"""A huge iTero order (a 2 MB doctor's note) against real Kafka (issue 10 item 9): capped, it is
published with a pointer to its inbound record; uncapped, Kafka refuses it and the worker dead-letters
it with the reason instead of retrying every 5 s for ever while it holds its partition's commits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from consumers.event_caps import SUMMARY_KEY
from scanbridge.runtime import run_worker
from schemas.settings import EventLimits, Settings
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED, SCAN_NOTIFIED
from simulators.itero.notify import post_notification
from tests.events import collect, of_type
from tests.itero.conftest import Stack

NOTE = "Please check the margin on 8. " * 70_000  # about 2 MB: over Kafka's 1 MiB default


@asynccontextmanager
async def _worker(settings: Settings, stack: Stack) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stack.bus, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_a_huge_vendor_record_is_capped_and_points_to_its_inbound_record(stack: Stack) -> None:
    """Before: the 2 MB order.updated was refused by the producer, reported as "bus unavailable", and
    retried every 5 s for ever; the order was never announced."""
    order = stack.sim.add_order(size=10_000, notes=NOTE)
    async with _worker(stack.settings, stack):
        assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
        events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                               lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    (notified,) = of_type(events, SCAN_NOTIFIED)
    (updated,) = of_type(events, ORDER_UPDATED)
    data = updated.json_data()
    limits = stack.settings.events
    assert data["truncated"] == ["notes", "vendor_record"]
    assert data["notes"] == NOTE[: limits.max_text_chars]
    record = data["vendor_record"]
    assert record["RxId"] == order.rx_id and record["OrderId"] == order.order_id  # short scalars kept
    assert "Notes" not in record and "Preps" not in record
    summary = record[SUMMARY_KEY]
    assert summary["truncated"] is True and summary["original_bytes"] > len(NOTE)
    assert summary["inbound_id"] == notified.json_data()["inbound_id"] is not None
    assert len(json.dumps(data)) < 64 * 1024


async def test_an_order_kafka_refuses_for_its_size_is_dead_lettered_and_the_next_order_goes_on(
    stack: Stack,
) -> None:
    """Caps lifted so the event stays too large: EventTooLarge → a dead letter with the reason."""
    settings = stack.settings.model_copy(update={"events": EventLimits(max_vendor_record_bytes=10**9,
                                                                       max_text_chars=10**9)})
    huge = stack.sim.add_order(size=10_000, notes=NOTE)
    small = stack.sim.add_order(size=10_000)
    async with _worker(settings, stack):
        await post_notification(stack.hook, huge.rx_id, stack.sim.company_id)
        await post_notification(stack.hook, small.rx_id, stack.sim.company_id)
        letters = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
        events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                               lambda ev: len([e for e in of_type(ev, ARTIFACT_STORED)
                                               if e.subject == small.rx_id]) >= 2)
    (letter,) = letters
    assert letter.subject == huge.rx_id
    assert "too large: MessageSizeTooLargeError" in letter.json_data()["reason"]
    assert [e.subject for e in of_type(events, ORDER_UPDATED)] == [small.rx_id]
