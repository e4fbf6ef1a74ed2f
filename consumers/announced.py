"""What was announced, per order version and file (DESIGN.md §7 "artifact markers", issue 13 item 2,
issue 12 item 7): markers in the state store, so the folder and S3 artifact stores behave alike and an
order announces nothing twice on its topic, whichever worker or host handles it, however often. An
artifact's marker is the `artifact.stored` data it announced, found again by `artifact_id` (the artifact
route).

Exactly once on the topic, for `order.updated`, `artifact.stored` and `order.completed` (`artifact.failed`
is per attempt, not once-only):
- one worker at a time per order (its claim, consumers/claims.py), so two never both find "not announced";
  the 3Shape poller, which announces its cases' `order.updated` itself (`announce_order_once`, shared with
  the worker's pipeline), is alone by its connection's lease instead;
- before the event is sent, an *intent* is recorded beside the marker (`intending`: same table, file
  `:intent:<file>`, put-if-absent, the event's deterministic id, topic and the time); after the bus
  acknowledged it, the marker. Happy path: one more small write, no read more (`lookup` reads both);
- a marker missing where an intent exists means an earlier attempt may have published and died (SIGKILL)
  or failed to write the marker (the store did not answer): `recover` looks for the event id on its topic
  from the intent's time minus `SKEW`; found, the marker is written from the event found and nothing is
  sent (an artifact is not even fetched again); not found, the event is sent.
Intents are never markers: `get`, `find` (the artifact route) and `previous_version` read files only.
Retention prunes intents with the markers.

Residual risk: a worker that stalls (GC pause, a VM frozen, SIGSTOP) longer than `worker.claim_ttl_s`
exactly between its check and the bus's acknowledgement loses its claim without knowing it; the next
holder may not yet see the stalled publish on the topic and publish too. Kafka cannot refuse the late
write without transactions (a transactional producer per order, fenced by the claim), which are not used.

A marker row that cannot be read raises `CorruptState` naming the order's account — the worker
dead-letters the event, it never reads as "not announced".
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

from bus.base import Bus
from bus.replay import scan
from consumers.publish import BeforeSend, Publisher
from schemas.envelope import Envelope
from schemas.events import Order
from state.base import Marker, MarkerKey, StateStore
from state.errors import CorruptState

log = logging.getLogger(__name__)

ORDER = ":order"  # the version's `order.updated` (a file is `kind/name`: never starts with ':')
COMPLETED = ":completed"  # the version's `order.completed`
INTENT = ":intent:"  # `:intent:<file>`: the event about to be sent for `<file>`
SKEW = timedelta(seconds=60)  # clocks of the worker's host and the bus (a record's time) may differ

MarkerOf = Callable[[Envelope], tuple[dict[str, Any], str | None]]  # an event → (marker data, artifact id)


def artifact_file(kind: str, file_name: str) -> str:
    return f"{kind}/{file_name}"


def intent_file(file: str) -> str:
    return f"{INTENT}{file}"


def key(order: Order, subject: str, file: str) -> MarkerKey:
    """`subject`: the id the order is filed under (the Rx id of an iTero order, say)."""
    return MarkerKey(order.vendor, order.account, subject, order.version, file)


async def get(state: StateStore, order: Order, subject: str, file: str) -> dict[str, Any] | None:
    marker = await state.markers.get(key(order, subject, file))
    return None if marker is None else dict(marker.data)


async def lookup(state: StateStore, order: Order, subject: str,
                 file: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The marker of `file` and its intent (each None when absent), in one read."""
    found = await state.markers.get_files(key(order, subject, file), [file, intent_file(file)])
    marker, intent = found.get(file), found.get(intent_file(file))
    return (None if marker is None else dict(marker.data)), (None if intent is None else dict(intent.data))


def intending(state: StateStore, order: Order, subject: str, file: str) -> BeforeSend:
    """The publisher's `before_send`: record the intent to send this event (the first one stays)."""

    async def record_intent(topic: str, event: Envelope) -> None:
        data = {"event_id": event.id, "type": event.type, "topic": topic, "at": datetime.now(UTC).isoformat()}
        await state.markers.put_if_absent(Marker(key(order, subject, intent_file(file)), data))

    return record_intent


async def record(state: StateStore, order: Order, subject: str, file: str, data: dict[str, Any],
                 artifact_id: str | None = None) -> bool:
    """Record an announcement; False when one was recorded already (the earlier one stays)."""
    return await state.markers.put_if_absent(Marker(key(order, subject, file), data, artifact_id=artifact_id))


async def recover(state: StateStore, bus: Bus, order: Order, subject: str, file: str, intent: dict[str, Any],
                  marker_of: MarkerOf) -> dict[str, Any] | None:
    """An earlier attempt meant to send an event and left no marker: if the event is on its topic, write
    the marker from it and return the marker's data (nothing is to be sent); None when it is not there."""
    try:
        event_id, topic = str(intent["event_id"]), str(intent["topic"])
        since = datetime.fromisoformat(intent["at"]) - SKEW
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptState(f"intent of {file!r} of {order.vendor}/{order.account} (order {subject}, "
                           f"version {order.version}) cannot be read") from exc
    event = await published(bus, topic, event_id, since)
    if event is None:
        log.info("announcement of %s not on its topic: sending it", event_id, extra={"announced": event_id})
        return None
    data, artifact_id = marker_of(event)
    if not await record(state, order, subject, file, data, artifact_id):
        data = await get(state, order, subject, file) or data
    log.info("announcement of %s found on its topic: marker recovered, not sent again", event_id,
             extra={"announced": event_id})
    return data


async def published(bus: Bus, topic: str, event_id: str, since: datetime) -> Envelope | None:
    """The event `event_id` if it is on `topic` at or after `since` (read up to the topic's current end)."""
    async with aclosing(scan(bus, [topic], since)) as deliveries:
        async for delivery in deliveries:
            if delivery.event.id == event_id:
                return delivery.event
    return None


def order_marker(order: Order, at: datetime) -> dict[str, Any]:
    """The marker of a version's `order.updated`: what `previous_version` needs of it."""
    return {"version": order.version, "vendor_status": order.vendor_status, "at": at.isoformat()}


def order_marker_of(event: Envelope) -> tuple[dict[str, Any], str | None]:
    data = event.json_data()
    return {"version": data.get("version"), "vendor_status": data.get("vendor_status"),
            "at": event.time.isoformat()}, None


def artifact_marker_of(event: Envelope) -> tuple[dict[str, Any], str | None]:
    data = event.json_data()
    return dict(data), data.get("artifact_id")


def completed_marker_of(event: Envelope) -> tuple[dict[str, Any], str | None]:
    return {"event_id": event.id, "at": event.json_data().get("completed_at")}, None


async def previous_version(state: StateStore, order: Order, subject: str) -> dict[str, Any] | None:
    """What the version of the order announced last said (its version and vendor status)."""
    marker = await state.markers.latest(order.vendor, order.account, subject, ORDER)
    return None if marker is None else dict(marker.data)


async def announce_order_once(state: StateStore, publisher: Publisher, order: Order, subject: str,
                              inbound_id: str | None = None, *,
                              previous_from_markers: bool = True) -> tuple[Order, bool]:
    """Publish the version's `order.updated` unless it is on the topic already: its marker is there, or
    its intent is and `recover` finds the event (the marker is then written from it). Otherwise it is sent
    with its intent and the marker is recorded after the bus acknowledged it. Returns the order as
    announced (before the event's caps) and whether it was sent now. `previous_from_markers`: set the
    order's `previous_vendor_status` from the version announced last (one read more, on a miss only); a
    caller that keeps what it saw (the 3Shape poller) sets it itself."""
    marker, intent = await lookup(state, order, subject, ORDER)
    if marker is not None:
        return order, False
    if previous_from_markers:
        latest = await previous_version(state, order, subject)
        if latest and latest.get("version") != order.version:
            order = order.model_copy(update={"previous_vendor_status": latest.get("vendor_status")})
    if intent is not None and await recover(state, publisher.bus, order, subject, ORDER, intent,
                                            order_marker_of):
        return order, False  # an earlier attempt sent it and left no marker: not sent again
    await publisher.order_updated(order, subject, inbound_id, intending(state, order, subject, ORDER))
    await record(state, order, subject, ORDER, order_marker(order, datetime.now(UTC)))
    return order, True


def canonical(artifact_id: str) -> str | None:
    """The id as a canonical UUID; anything else names nothing."""
    try:
        parsed = uuid.UUID(artifact_id)
    except (ValueError, AttributeError, TypeError):
        return None
    return str(parsed) if str(parsed) == artifact_id else None


async def find(state: StateStore, artifact_id: str) -> dict[str, Any] | None:
    """The `artifact.stored` data announced for `artifact_id`, if any."""
    if (canonical_id := canonical(artifact_id)) is None:
        return None
    marker = await state.markers.find(canonical_id)
    return None if marker is None else dict(marker.data)
