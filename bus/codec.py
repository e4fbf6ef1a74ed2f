"""Envelope ↔ CloudEvents Kafka binary mode (`ce_*` headers, `content-type`, key = partitionkey)."""

from __future__ import annotations

from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from schemas.envelope import Envelope
from schemas.topics import INBOUND_RECEIVED

_FORMAT = JSONFormat()
_CORE = {"id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "specversion",
         "partitionkey"}


def encode(event: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return (key, value, headers) for a Kafka record."""
    attributes: dict[str, Any] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "specversion": "1.0",
        "time": event.time,
        "datacontenttype": event.datacontenttype,
        "dataschema": event.dataschema,
        "partitionkey": event.partitionkey,
        **event.extensions,
    }
    if event.subject is not None:
        attributes["subject"] = event.subject
    message = to_binary(CloudEvent(attributes=attributes, data=event.data), _FORMAT)
    key = message.key.encode() if isinstance(message.key, str) else (message.key or b"")
    return key, message.value, list(message.headers.items())


def decode(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | tuple) -> Envelope:
    message = KafkaMessage(headers=dict(headers), key=key, value=value)
    ce = from_binary(message, _FORMAT, CloudEvent)
    attrs = ce.get_attributes()
    data = ce.get_data()
    if attrs["type"] == INBOUND_RECEIVED or not isinstance(data, dict):
        data = value  # inbound records stay the verbatim bytes that were received
    return Envelope(
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        subject=attrs.get("subject"),
        time=attrs["time"],
        datacontenttype=attrs.get("datacontenttype", "application/json"),
        dataschema=attrs.get("dataschema") or "",  # an event from before dataschema: the current one
        partitionkey=str(attrs.get("partitionkey") or (key or b"").decode()),
        data=data,
        extensions={k: str(v) for k, v in attrs.items() if k not in _CORE},
    )
