"""Dead letters: an event that could not be handled, wrapped with why, and put back on its topic by retry.

The dead-letter topic is itself a log: a retry publishes the original event again (extension
`dlqretry=<n>`) and then appends a `deadletter.retried` marker, so `retry --all` retries each only once.
A retried event that fails again becomes a new dead letter linked to the first one (`first`); it is
labelled `<first's short id>/<n>`.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bus.base import Bus
from bus.replay import Progress, scan
from schemas.deadletter import RETRY_EXTENSION, Attempt, DeadLetter, DeadLetterRetried, OriginalEvent
from schemas.envelope import Envelope, utcnow
from schemas.topics import DEAD_LETTER_CREATED, DEAD_LETTER_RETRIED

__all__ = ["DEAD_LETTERED", "RETRIED", "RETRY_EXTENSION", "DeadLetter", "Entry", "make_dead_letter",
           "pending", "read_entries", "retry"]

DEAD_LETTERED = DEAD_LETTER_CREATED
RETRIED = DEAD_LETTER_RETRIED
_NAMESPACE = uuid.UUID("0b6f55a2-0a3e-4f55-9a0e-4a4e3f7d2c61")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SHORT = 8


def dead_letter_id(original_id: str, original_topic: str, retry: str) -> str:
    """Fixed per original event, its topic and the retry round it failed in."""
    return str(uuid.uuid5(_NAMESPACE, f"{original_id}\x1f{original_topic}\x1f{retry}"))


def make_dead_letter(original: Envelope, original_topic: str, reason: str,
                     attempts: list[tuple[datetime, str]]) -> Envelope:
    """The dead-letter event for `original`; its id is fixed per original event and retry round."""
    raw = original.data if isinstance(original.data, bytes) else None
    retry = original.extensions.get(RETRY_EXTENSION, "0")
    wrapped = DeadLetter(
        original=OriginalEvent(
            id=original.id, source=original.source, type=original.type, subject=original.subject,
            time=original.time, datacontenttype=original.datacontenttype,
            partitionkey=original.partitionkey, topic=original_topic, extensions=original.extensions,
            data=None if raw is not None else original.json_data(),
            data_base64=base64.b64encode(raw).decode() if raw is not None else None,
        ),
        reason=reason,
        attempts=[Attempt(at=at, error=error) for at, error in attempts],
        first=dead_letter_id(original.id, original_topic, "0") if retry != "0" else None,
    )
    return Envelope(
        id=dead_letter_id(original.id, original_topic, retry),
        source=original.source, type=DEAD_LETTERED, subject=original.subject,
        partitionkey=original.partitionkey, data=wrapped.model_dump(mode="json"),
    )


@dataclass
class Entry:
    """A dead letter as read from the topic, with the retries already made of it."""

    event: Envelope
    letter: DeadLetter
    retried: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        """A short id: 8 characters of the id, or `<first's 8>/<n>` for the n-th retry failing again."""
        first = self.letter.first
        return f"{first[:SHORT]}/{self.letter.retries()}" if first else self.event.id[:SHORT]

    def matches(self, ident: str) -> bool:
        """The dead-letter id, its label, the original event's id, or a prefix (≥ 6) of the id."""
        return (ident in (self.event.id, self.label, self.letter.original.id)
                or (len(ident) >= 6 and self.event.id.startswith(ident)))


async def read_entries(bus: Bus, topic: str, progress: Progress | None = None) -> list[Entry]:
    """All dead letters of `topic` in log order, with their retry markers applied."""
    entries: dict[str, Entry] = {}
    async for delivery in scan(bus, [topic], _EPOCH, progress):
        event = delivery.event
        if event.type == DEAD_LETTERED:
            entries[event.id] = Entry(event, DeadLetter.model_validate(event.json_data()))
        elif event.type == RETRIED and (entry := entries.get(str(event.json_data()["deadletter"]))):
            entry.retried.append(int(event.json_data()["retry"]))
    return list(entries.values())


async def retry(bus: Bus, topic: str, entry: Entry) -> Envelope:
    """Publish the original event again on its topic, then record the retry in the dead-letter topic."""
    again = entry.letter.for_retry()
    await bus.publish(entry.letter.original.topic, again)
    retry_n = int(again.extensions[RETRY_EXTENSION])
    await bus.publish(topic, Envelope(
        id=str(uuid.uuid5(_NAMESPACE, f"{entry.event.id}\x1fretried\x1f{retry_n}")),
        source=entry.event.source, type=RETRIED, subject=entry.event.subject,
        partitionkey=entry.event.partitionkey, time=utcnow(),
        data=DeadLetterRetried(deadletter=entry.event.id, original=again.id, retry=retry_n).model_dump(),
    ))
    entry.retried.append(retry_n)
    return again


def pending(entries: list[Entry]) -> list[Entry]:
    """The dead letters not retried yet."""
    return [entry for entry in entries if not entry.retried]
