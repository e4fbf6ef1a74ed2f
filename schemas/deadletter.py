"""The `data` of dead letters (`deadletter.created`) and of their retry markers (`deadletter.retried`).

A dead letter carries the original event whole (its CloudEvents attributes and its `data`, or the verbatim
bytes base64-encoded for an inbound record), the reason and the attempt history; `scanbridge dlq retry`
publishes the original again from it. JSON Schemas are generated from these models like the others.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from schemas.envelope import Envelope

RETRY_EXTENSION = "dlqretry"


class Attempt(BaseModel):
    at: datetime
    error: str


class OriginalEvent(BaseModel):
    """Everything needed to publish the event again exactly as it was."""

    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str
    partitionkey: str
    topic: str = Field(description="the topic the event was read from, where a retry puts it back")
    extensions: dict[str, str]
    data: dict[str, Any] | None = None
    data_base64: str | None = Field(None, description="inbound records: the verbatim bytes, base64")


class DeadLetter(BaseModel):
    """An event that could not be handled: the original event, why, and the attempts made."""

    original: OriginalEvent
    reason: str
    attempts: list[Attempt]
    first: str | None = Field(None, description="the id of this event's first dead letter, when this one "
                              "follows a retry")

    def retries(self) -> int:
        return int(self.original.extensions.get(RETRY_EXTENSION, "0"))

    def for_retry(self) -> Envelope:
        """The original event, marked as retry number n+1."""
        o = self.original
        data: dict[str, Any] | bytes = o.data if o.data is not None else base64.b64decode(o.data_base64 or "")
        return Envelope(
            id=o.id, source=o.source, type=o.type, subject=o.subject, time=o.time,
            datacontenttype=o.datacontenttype, partitionkey=o.partitionkey, data=data,
            extensions={**o.extensions, RETRY_EXTENSION: str(self.retries() + 1)},
        )


class DeadLetterRetried(BaseModel):
    """Appended to the dead-letter topic after a retry published the original again."""

    deadletter: str = Field(description="the id of the `deadletter.created` event retried")
    original: str = Field(description="the id of the original event (published again with that id)")
    retry: int = Field(description="the retry number, also the original's `dlqretry` extension")
