"""The AsyncAPI 3.0 document of the event contract, made from `schemas.contract` (README "Events").

Channels are the topics (their configured names), messages the event types with their CloudEvents Kafka
headers, key and published `data` schema, and an example each. `python -m schemas.asyncapi` writes
`schemas/asyncapi.json` (default topic names); `--markdown` prints the README's summary table. The
receiver serves the document for its own configuration at `/asyncapi.json`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from schemas.contract import MESSAGES, Message
from schemas.dataschema import MAJOR, dataschema
from schemas.examples import AT
from schemas.published import published_schema
from schemas.topics import Topics

VERSION = f"{MAJOR}.0.0"
OUT = Path(__file__).parent / "asyncapi.json"
KAFKA_BINDING = "0.5.0"
_CHANNELS = {
    "inbound": "Verbatim webhook bodies as received (audit, re-processing).",
    "events": "Normalized order events: notifications, orders, connection and subscription state.",
    "artifacts": "Artifacts stored or failed, and each order version's completion; same key as its order.",
    "deadletter": "What could not be handled: the original event, why, the attempts; and their retries.",
    "commands": "Commands downstream services send to scanbridge.",
}
_DESCRIPTION = """\
Normalized events of dental intraoral-scanner clouds (iTero / Align, Medit Link, 3Shape Dental Desktop).

Every message is a CloudEvents 1.0 event in the Kafka binary content mode: the context attributes are
`ce_*` headers, `content-type` carries `datacontenttype`, the value is the `data` JSON, and the record key
is the CloudEvents `partitionkey` extension (all events of one order share it, so they stay in order).
`ce_dataschema` names the JSON Schema of `data` (its `$id`).

Versioning: within v1 changes are additive only (new optional fields, new values of `x-extensible-enum`
enumerations, new event types); ignore what you do not know. A breaking change gets a new `dataschema`
major and new `.v2` topics, published side by side with v1 for a deprecation window (README, "Events")."""


def message_id(event_type: str) -> str:
    head, *rest = re.split(r"[._]", event_type)
    return head + "".join(part.capitalize() for part in rest)


def _schema_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type)) + "Data"


def _hoisted(message: Message, components: dict[str, Any]) -> dict[str, str]:
    """Put the published schema of `message` (and its `$defs`) in `components`; return a ref to it."""
    schema = published_schema(message.type, message.model, strict=message.strict)
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    for name, definition in defs.items():
        rewritten = json.loads(json.dumps(definition).replace('"#/$defs/', '"#/components/schemas/'))
        if components.setdefault(name, rewritten) != rewritten:
            raise ValueError(f"two different schemas are both named {name!r}")
    name = _schema_name(message.type)
    components[name] = json.loads(text)
    return {"$ref": f"#/components/schemas/{name}"}


def _headers(message: Message) -> dict[str, Any]:
    content_type = "the vendor's content type" if message.model is None else "application/json"
    string = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_partitionkey"],
        "properties": {
            "ce_specversion": {"const": "1.0", "description": "CloudEvents version"},
            "ce_id": {**string, "description": "event id; deterministic: a repeat of the same change has "
                                               "the same id (deduplicate on it)"},
            "ce_source": {**string, "description": "scanbridge/<vendor>/<account>"},
            "ce_type": {"const": message.type},
            "ce_subject": {**string, "description": "the order (or connection, subscription) it is about"},
            "ce_time": {**string, "format": "date-time"},
            "ce_dataschema": {**string, "description": "the `$id` of the data schema; "
                                                       f"now {dataschema(message.type)}"},
            "ce_partitionkey": {**string, "description": f"= the record key: {message.key}"},
            "content-type": {**string, "description": f"datacontenttype: {content_type}"},
            "ce_replayed": {**string, "description": "`true` on an event re-published by a replay"},
            "ce_dlqretry": {**string, "description": "the retry number of an event re-published from the "
                                                     "dead-letter topic"},
            "ce_traceparent": {**string, "description": "W3C trace context (CloudEvents distributed-tracing "
                                                        "extension), when tracing is on"},
            "ce_tracestate": {**string, "description": "W3C trace state, with ce_traceparent, if any"},
        },
    }


def _example(message: Message) -> dict[str, Any]:
    key = message.key.format(vendor="itero", account="4242", order="3f2b8c1e-5d47-4a8e-9b0c-2e1f6a7d8c90",
                             connection="practice-1", subscription="lab-x", subject="3706720", actor="ann")
    return {
        "name": f"{message_id(message.type)}Example",
        "summary": f"a {message.type} event",
        "headers": {
            "ce_specversion": "1.0", "ce_id": "5b1c2d3e-4f50-5a6b-8c7d-9e0f1a2b3c4d",
            "ce_source": "scanbridge/itero/4242", "ce_type": message.type,
            "ce_time": AT.isoformat().replace("+00:00", "Z"), "ce_dataschema": dataschema(message.type),
            "ce_partitionkey": key, "content-type": "application/json",
        },
        "payload": message.example(),
    }


def _message(message: Message, components: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": message.type,
        "title": message.type,
        "summary": message.summary,
        "contentType": "application/json",
        "headers": _headers(message),
        "payload": _hoisted(message, components),
        "correlationId": {"description": "the CloudEvents id", "location": "$message.header#/ce_id"},
        "bindings": {"kafka": {"key": {"type": "string", "description": message.key},
                               "bindingVersion": KAFKA_BINDING}},
        "examples": [_example(message)],
    }


def document(topics: Topics | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for these topic names (the defaults when None)."""
    topics = topics or Topics()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for message in MESSAGES:
        mid = message_id(message.type)
        messages[mid] = _message(message, schemas)
        address = getattr(topics, message.channel)
        channel = channels.setdefault(message.channel, {
            "address": address, "title": address, "description": _CHANNELS[message.channel], "messages": {},
            "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDING}},
        })
        channel["messages"][mid] = {"$ref": f"#/components/messages/{mid}"}
        operations[f"{message.direction}{mid[0].upper()}{mid[1:]}"] = {
            "action": message.direction,
            "title": f"{message.direction} {message.type}",
            "summary": message.summary,
            "channel": {"$ref": f"#/channels/{message.channel}"},
            "messages": [{"$ref": f"#/channels/{message.channel}/messages/{mid}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:scanbridge:events",
        "info": {"title": "scanbridge events", "version": VERSION, "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {"kafka": {
            "host": "{bootstrap}", "protocol": "kafka",
            "description": "your deployment's Kafka brokers (or scanbridge's embedded bus, read with "
                           "`scanbridge tail`)",
            "variables": {"bootstrap": {"default": "localhost:9092", "description": "host:port of a broker"}},
        }},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def rendered(topics: Topics | None = None) -> str:
    return json.dumps(document(topics), indent=2) + "\n"


def markdown_table(topics: Topics | None = None) -> str:
    """The README's summary: one row per message type, from the document."""
    doc = document(topics)
    rows = ["| topic (default) | type | key | summary |", "|---|---|---|---|"]
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            key = message["bindings"]["kafka"]["key"]["description"]
            rows.append(f"| `{channel['address']}` | `{message['name']}` | `{key}` | {message['summary']} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    if "--markdown" in sys.argv[1:]:
        print(markdown_table(), end="")
    else:
        OUT.write_text(rendered())
