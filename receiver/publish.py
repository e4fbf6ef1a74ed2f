"""Publish what a webhook brought: the verbatim inbound record, then the normalized event."""

from __future__ import annotations

from datetime import datetime

from bus.base import Bus
from schemas.envelope import Envelope, utcnow
from schemas.eventfactory import inbound_record, vendor_event
from schemas.events import ScanNotified
from schemas.topics import SCAN_NOTIFIED, Topics


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
    inbound = inbound_record(vendor=notified.vendor, account=notified.account, subject=subject, raw=raw,
                             content_type=content_type, route=route, time=notified.received_at)
    data = notified.model_dump(mode="json")
    data["inbound_id"] = inbound.id  # the data of `notified` with its inbound record's id
    # A webhook carries no version: each delivery is its own signal, tied to its inbound record.
    event = vendor_event(SCAN_NOTIFIED, vendor=notified.vendor, account=notified.account, subject=subject,
                         version=inbound.id, data=data, time=notified.received_at)
    # Both in flight at once: one acknowledgement wait instead of two (bench/README.md, "ingest").
    await bus.publish_many([(topics.inbound, inbound), (topics.events, event)])
    return event


def now() -> datetime:
    return utcnow()
