"""The one place an event envelope is made (EVENTS.md "the rest"): id, source and partition key.

`vendor_event`: the id is deterministic from type, vendor, account, subject and version (a repeat
collapses); source `scanbridge/<vendor>/<account>`; key `{vendor}:{account}:{subject}`, so every event
of one order lands on one partition. `inbound_record`: a webhook's verbatim bytes, under a fresh id
(each delivery is its own record), keyed like the events it brought. Both carry the current trace
context (`traceparent`, schemas/tracecontext.py) when tracing is on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas import ids, tracecontext
from schemas.dataschema import dataschema
from schemas.envelope import Envelope, utcnow
from schemas.topics import INBOUND_RECEIVED


def vendor_event(event_type: str, *, vendor: str, account: str, subject: str, version: str,
                 data: dict[str, Any], time: datetime | None = None) -> Envelope:
    """A normalized event about `subject` (an order, or a connection) of one vendor account."""
    return Envelope(
        id=ids.event_id(event_type, vendor, account, subject, version),
        source=ids.source(vendor, account),
        type=event_type,
        subject=subject,
        time=time or utcnow(),
        dataschema=dataschema(event_type),  # given: the model's fallback would copy the fields
        partitionkey=ids.partition_key(vendor, account, subject),
        data=data,
        extensions=tracecontext.event_context(),
    )


def inbound_record(*, vendor: str, account: str, subject: str, raw: bytes, content_type: str, route: str,
                   time: datetime | None = None) -> Envelope:
    """What a webhook brought, verbatim; a random id, the same source and key as its events."""
    return Envelope(
        id=ids.random_id(),
        source=ids.source(vendor, account),
        type=INBOUND_RECEIVED,
        subject=subject,
        time=time or utcnow(),
        datacontenttype=content_type or "application/json",
        dataschema=dataschema(INBOUND_RECEIVED),
        partitionkey=ids.partition_key(vendor, account, subject),
        data=raw,
        extensions={"route": route, **tracecontext.event_context()},
    )
