"""The orders index, fed from the events and artifacts topics (issue 17 "Orders"): a consumer group of its
own reads every order's events (`scan.notified`, `order.updated`, `artifact.*`, `order.completed`), keeps
their ids, times and a short summary in the state store (`state/tables/orders.py`), and commits only after
the store has them. An event indexed twice (a replay, a redelivery) is kept once: event ids are fixed
(DESIGN.md §2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any

from bus.base import Bus, Delivery, Partition
from bus.replay import parse_source
from schemas.envelope import Envelope
from schemas.topics import (
    ARTIFACT_FAILED,
    ARTIFACT_STORED,
    ORDER_COMPLETED,
    ORDER_UPDATED,
    SCAN_NOTIFIED,
    Topics,
)
from state.base import IndexedEvent, OrderKey, OrdersIndex

log = logging.getLogger(__name__)
GROUP = "scanbridge-console-index"
RESTART_S = 5.0
TEXT = 200  # summary strings are cut here


def _cut(value: Any) -> Any:
    return value[:TEXT] if isinstance(value, str) else value


def _pick(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: _cut(data[n]) for n in names if data.get(n) is not None}


def indexed(event: Envelope) -> IndexedEvent | None:
    """What the index keeps of `event`; None for an event of no order."""
    if event.type not in (SCAN_NOTIFIED, ORDER_UPDATED, ARTIFACT_STORED, ARTIFACT_FAILED, ORDER_COMPLETED):
        return None
    vendor, account = parse_source(event.source)
    if vendor is None or account is None or not event.subject or not isinstance(event.data, dict):
        return None
    data = event.data
    order = data["order"] if isinstance(data.get("order"), dict) else {}
    key = OrderKey(vendor, account, event.subject)
    version = data.get("version") or order.get("version")
    base = IndexedEvent(key, event.id, event.type, event.time, str(version) if version is not None else None)
    if event.type == ORDER_UPDATED:
        patient = data.get("patient")
        return replace(base, rx_id=data.get("rx_id"), case_id=data.get("case_id"),
                            order_code=data.get("order_code"), stage=data.get("stage"),
                            patient=patient if isinstance(patient, dict) else {},
                            summary={**_pick(data, "stage", "vendor_status", "procedure", "scanner"),
                                     "artifacts": len(data.get("artifacts") or [])})
    if event.type == SCAN_NOTIFIED:
        return replace(base, rx_id=data.get("rx_id"), case_id=data.get("case_id"),
                            summary=_pick(data, "learned_by", "status", "connection"))
    if event.type == ARTIFACT_STORED:
        return replace(base, artifact=True, summary=_pick(
            data, "artifact_id", "kind", "file_name", "media_type", "size", "sha256"))
    if event.type == ARTIFACT_FAILED:
        return replace(base, summary=_pick(data, "kind", "reason", "attempts", "retry_hint"))
    return replace(base, summary=_pick(data, "stored", "failed"))


def _next_offsets(deliveries: list[Delivery]) -> dict[Partition, int]:
    offsets: dict[Partition, int] = {}
    for d in deliveries:
        offsets[d.partition] = max(offsets.get(d.partition, 0), d.offset + 1)
    return offsets


async def index_once(bus: Bus, orders: OrdersIndex, topics: Topics, stop: asyncio.Event,
                     group: str = GROUP) -> None:
    consumer = bus.consumer([topics.events, topics.artifacts], group)
    await consumer.start()
    try:
        while not stop.is_set():
            deliveries = await consumer.poll(max_records=500, timeout_s=1.0)
            if not deliveries:
                continue
            found = [e for d in deliveries if (e := indexed(d.event)) is not None]
            if found:
                await orders.record(found)
            await consumer.commit(_next_offsets(deliveries))
    finally:
        await consumer.close()


async def run_indexer(bus: Bus, orders: OrdersIndex, topics: Topics, stop: asyncio.Event,
                      group: str = GROUP) -> None:
    """Index until `stop`; a failure (store or bus down) restarts from the last commit after RESTART_S."""
    while not stop.is_set():
        try:
            await index_once(bus, orders, topics, stop, group)
        except Exception as exc:  # noqa: BLE001 - the top-level loop: log, wait, start again
            log.warning("console: orders index stopped (%s: %s); starting again in %g s",
                        type(exc).__name__, exc, RESTART_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_S)
