"""Publish what a webhook brought: the verbatim inbound record, then the normalized event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from bus.base import Bus
from schemas import ids
from schemas.envelope import Envelope, utcnow
from schemas.events import ScanNotified
from schemas.topics import INBOUND_RECEIVED, SCAN_NOTIFIED, Topics


async def publish_notification(
    bus: Bus,
    topics: Topics,
    *,
    raw: bytes,
    content_type: str,
    route: str,
    notified: ScanNotified,
    subject: str,
) -> Envelope:
    """Both events are acknowledged durably when this returns; raises BusUnavailable otherwise."""
    key = ids.partition_key(notified.vendor, notified.account, subject)
    src = ids.source(notified.vendor, notified.account)
    inbound = Envelope(
        id=str(uuid.uuid4()),
        source=src,
        type=INBOUND_RECEIVED,
        subject=subject,
        time=notified.received_at,
        datacontenttype=content_type or "application/json",
        partitionkey=key,
        data=raw,
        extensions={"route": route},
    )
    notified = notified.model_copy(update={"inbound_id": inbound.id})
    event = Envelope(
        # A webhook carries no version: each delivery is its own signal, tied to its inbound record.
        id=ids.event_id(SCAN_NOTIFIED, notified.vendor, notified.account, subject, inbound.id),
        source=src,
        type=SCAN_NOTIFIED,
        subject=subject,
        time=notified.received_at,
        partitionkey=key,
        data=notified.model_dump(mode="json"),
    )
    # Both in flight at once: one acknowledgement wait instead of two (bench/README.md, "ingest").
    outcomes = await asyncio.gather(bus.publish(topics.inbound, inbound), bus.publish(topics.events, event),
                                    return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return event


def now() -> datetime:
    return utcnow()
