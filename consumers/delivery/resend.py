"""Sending again on request: `scanbridge replay --subscription` (a time range of the log) and
`scanbridge subscriptions dead-letters --resend` (what the endpoint refused). Events go one at a time in
log order (so per key in order), signed like any delivery, whether or not they were delivered before; an
endpoint that stays down stops the run (the rest is reported, not skipped)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from bus.base import Bus
from bus.replay import Selection, scan
from consumers.delivery.errors import EndpointGone, RetryLater, Undeliverable
from consumers.delivery.filters import matches
from consumers.delivery.gate import Gate
from consumers.delivery.runner import StateStore
from consumers.delivery.sender import Limits, send
from schemas.delivery import DeliverySettings
from schemas.envelope import Envelope
from schemas.topics import Topics
from state.base import Subscription

ATTEMPTS = 5


@dataclass
class Report:
    sent: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason): dead letters stay
    stopped: str | None = None  # why the run stopped early (the endpoint kept failing)


async def _events_in_range(bus: Bus, topics: Topics, subscription: Subscription, start: datetime,
                           end: datetime | None) -> AsyncIterator[Envelope]:
    selection = Selection(start, end)
    async for delivery in scan(bus, [topics.events, topics.artifacts], start):
        if selection.matches(delivery) and matches(subscription, delivery.event):
            yield delivery.event


async def send_all(client: httpx.AsyncClient, store: StateStore, subscription: Subscription,
                   events: AsyncIterator[Envelope], settings: DeliverySettings) -> Report:
    limits, gate, report = Limits(settings.timeout_s, settings.max_response_bytes), Gate(settings), Report()
    async for event in events:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await send(client, subscription, event, limits)
            except Undeliverable as exc:
                report.refused.append((event.id, str(exc)))
                break
            except EndpointGone as exc:
                report.stopped = str(exc)
                return report
            except RetryLater as exc:
                if attempt == ATTEMPTS:
                    report.stopped = f"{exc} ({ATTEMPTS} attempts at event {event.id})"
                    return report
                await asyncio.sleep(gate.failed(exc.retry_after))
                continue
            gate.succeeded()
            await store.subscriptions.mark_delivered(subscription.id, event.id)
            report.sent += 1
            break
    return report


async def replay_range(bus: Bus, store: StateStore, topics: Topics, subscription: Subscription,
                       client: httpx.AsyncClient, settings: DeliverySettings, start: datetime,
                       end: datetime | None = None) -> Report:
    """Send the subscription's events recorded in [start, end) again."""
    events = _events_in_range(bus, topics, subscription, start, end)
    return await send_all(client, store, subscription, events, settings)


async def resend_dead_letters(store: StateStore, subscription: Subscription, client: httpx.AsyncClient,
                              settings: DeliverySettings) -> Report:
    """Send the subscription's dead letters again, oldest first; each delivered one is forgotten."""
    letters = await store.subscriptions.dead_letters(subscription.id)
    events = {letter.event_id: letter for letter in letters}

    async def each() -> AsyncIterator[Envelope]:
        for letter in letters:
            yield from_structured(dict(letter.event))

    report = await send_all(client, store, subscription, each(), settings)
    for event_id in list(events):
        if await store.subscriptions.delivered(subscription.id, event_id):
            await store.subscriptions.remove_dead_letter(subscription.id, event_id)
    return report


def from_structured(data: dict[str, object]) -> Envelope:
    """An event back from its structured JSON form (consumers/delivery/signing.py)."""
    attributes = {"id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "partitionkey"}
    core = attributes | {"data", "data_base64", "specversion"}
    payload: dict[str, object] | bytes
    if "data_base64" in data:
        payload = base64.b64decode(str(data["data_base64"]))
    else:
        payload = dict(data.get("data") or {})  # type: ignore[call-overload]
    return Envelope.model_validate({
        **{k: v for k, v in data.items() if k in attributes},
        "data": payload,
        "extensions": {k: str(v) for k, v in data.items() if k not in core},
    })
