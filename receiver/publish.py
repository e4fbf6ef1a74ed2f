"""Publish what a webhook brought: the verbatim inbound record, then the normalized event.

The webhook routes give `scan.notified`'s data as `notified_data` writes it: the JSON of a `ScanNotified`
built from fields the route already checked, without the model's validation and dump (4.5 → 0.9 µs per
webhook, issue 16); tests/receiver/test_publish.py holds it to the model's own dump.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bus.base import Bus
from bus.codec import rfc3339
from schemas.envelope import Envelope, utcnow
from schemas.eventfactory import inbound_record, vendor_event
from schemas.events import LearnedBy, ScanNotified
from schemas.topics import SCAN_NOTIFIED, Topics


def notified_data(*, vendor: str, account: str, connection: str, received_at: datetime,
                  learned_by: LearnedBy = "webhook", rx_id: str | None = None, order_id: str | None = None,
                  case_id: str | None = None, file_id: str | None = None, status: str | None = None,
                  command_id: str | None = None) -> dict[str, Any]:
    """`ScanNotified(...).model_dump(mode="json")` for these fields (all text, `received_at` aware): every
    field in the model's order. The time's text is the one the record's `ce_time` header carries (UTC as `Z`,
    as pydantic writes it), written once for both."""
    return {"vendor": vendor, "account": account, "connection": connection, "rx_id": rx_id,
            "order_id": order_id, "case_id": case_id, "file_id": file_id, "status": status,
            "learned_by": learned_by, "received_at": rfc3339(received_at).decode(), "inbound_id": None,
            "version": None, "command_id": command_id}


async def publish_notification(bus: Bus, topics: Topics, *, raw: bytes, content_type: str, route: str,
                               notified: ScanNotified, subject: str) -> Envelope:
    """`publish_webhook` of a `ScanNotified` model."""
    return await publish_webhook(bus, topics, raw=raw, content_type=content_type, route=route,
                                 notified=notified.model_dump(mode="json"), received_at=notified.received_at,
                                 subject=subject)


async def publish_webhook(bus: Bus, topics: Topics, *, raw: bytes, content_type: str, route: str,
                          notified: dict[str, Any], received_at: datetime, subject: str) -> Envelope:
    """`notified`: the JSON data of this webhook's `scan.notified` (`notified_data`), received at
    `received_at`. Both events are acknowledged durably when this returns; raises BusUnavailable otherwise."""
    vendor, account = notified["vendor"], notified["account"]
    inbound = inbound_record(vendor=vendor, account=account, subject=subject, raw=raw,
                             content_type=content_type, route=route, time=received_at)
    notified["inbound_id"] = inbound.id  # the data of `notified` with its inbound record's id
    # A webhook carries no version: each delivery is its own signal, tied to its inbound record.
    event = vendor_event(SCAN_NOTIFIED, vendor=vendor, account=account, subject=subject,
                         version=inbound.id, data=notified, time=received_at)
    # Both in flight at once: one acknowledgement wait instead of two (bench/README.md, "ingest").
    await bus.publish_many([(topics.inbound, inbound), (topics.events, event)])
    return event


def now() -> datetime:
    return utcnow()
