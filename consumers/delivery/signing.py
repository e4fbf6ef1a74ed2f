"""What a delivery sends: the event as a structured CloudEvent (`application/cloudevents+json`) signed with
the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`), by the
`standardwebhooks` library. The id is the event's id, the same on every retry and replay (the receiver's
idempotency key); the timestamp and signatures are made anew for each attempt. During a secret rotation
each current secret signs, space-separated, so a receiver holding either one verifies.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from schemas.envelope import Envelope
from state.base import SigningSecret

CONTENT_TYPE = "application/cloudevents+json"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes (what Standard Webhooks expects)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def structured(event: Envelope) -> dict[str, Any]:
    """The CloudEvent in the JSON format: context attributes, extensions, and `data` (or `data_base64`)."""
    out: dict[str, Any] = {
        "specversion": "1.0", "id": event.id, "source": event.source, "type": event.type,
        "time": event.time.isoformat().replace("+00:00", "Z"), "datacontenttype": event.datacontenttype,
        "dataschema": event.dataschema, "partitionkey": event.partitionkey, **event.extensions,
    }
    if event.subject is not None:
        out["subject"] = event.subject
    if isinstance(event.data, bytes):
        out["data_base64"] = base64.b64encode(event.data).decode()
    else:
        out["data"] = event.data
    return out


def payload(event: Envelope) -> bytes:
    return json.dumps(structured(event), separators=(",", ":"), ensure_ascii=False).encode()


def current(all_secrets: Sequence[SigningSecret], now: datetime) -> list[str]:
    """The secrets that sign at `now`: the newest always, older ones until their grace ends."""
    return [s.secret for n, s in enumerate(all_secrets) if n == 0 or (s.until is not None and s.until > now)]


def headers(message_id: str, signing: Sequence[str], body: bytes, now: datetime) -> dict[str, str]:
    text = body.decode()
    signatures = " ".join(Webhook(secret).sign(message_id, now, text) for secret in signing)
    return {
        "content-type": CONTENT_TYPE,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
