"""The one place a command's result event is made: `command.succeeded` / `command.failed`, keyed like the
command, its id fixed per command id (a result published again after a restart collapses with the first)."""

from __future__ import annotations

from schemas import ids, tracecontext
from schemas.commands.base import CommandResult
from schemas.envelope import Envelope
from schemas.topics import COMMAND_FAILED, COMMAND_SUCCEEDED


def result_event(result: CommandResult, partitionkey: str) -> Envelope:
    event_type = COMMAND_SUCCEEDED if result.succeeded else COMMAND_FAILED
    subject = result.subject or result.command_id
    return Envelope(
        id=ids.event_id(event_type, result.vendor, result.connection, subject, result.command_id),
        source=ids.source(result.vendor, result.connection),
        type=event_type,
        subject=subject,
        time=result.completed_at,
        partitionkey=partitionkey,
        data=result.model_dump(mode="json"),
        extensions={"commandid": result.command_id, **tracecontext.event_context()},
    )
