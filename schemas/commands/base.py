"""Commands and their results (DESIGN.md §10, EVENTS.md "commands and their results").

A command is a CloudEvent on the commands topic: type `command.<vendor>.<action>`, `subject` the thing it
acts on, partition key `{vendor}:{connection}:{subject}`, and `data` a `CommandData` of the action: the
`command_id` (the idempotency key, a UUID the sender chooses), the `connection` and the action's fields.
The executor answers with `command.succeeded` / `command.failed` (`CommandResult`), keyed like the command.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from schemas.topics import COMMAND_FAILED, COMMAND_SUCCEEDED

__all__ = ["COMMAND_FAILED", "COMMAND_SUCCEEDED", "CommandData", "CommandResult"]

COMMAND_PREFIX = "command."
# A vendor id that enters a URL path: no `/`, `?`, `#`, `%`, spaces (DESIGN.md §5.6).
VENDOR_ID = r"^[A-Za-z0-9][A-Za-z0-9_~:=+.-]{0,127}$"
CONNECTION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

Reason = Literal[
    "invalid",  # the command does not match its schema, or names an unknown action
    "unknown_connection",  # no such connection of the vendor here
    "not_authorized",  # the producer may not target that connection (README "Acting on vendors")
    "needs_reauthorization",  # the connection needs a person to authorize it again
    "too_large",  # a file over the vendor's limit
    "source_unavailable",  # the file to upload could not be read
    "command_id_reused",  # the command_id was first used for another command
    "vendor_refused",  # the vendor answered 4xx: see vendor_status / vendor_error
    "vendor_unavailable",  # 5xx, timeouts, connection failures: the vendor's state was read, not applied
    "throttled",  # 429
    "processing_failed",  # the vendor accepted the call but its later processing failed (Medit upload)
    "cancelled",  # cancelled before the vendor handled it (3Shape: command.3shape.cancel_request)
    "interrupted",  # the executor stopped mid-way; the vendor's state shows the command did not apply
    "outcome_unknown",  # the executor stopped mid-way and the vendor's state cannot tell what happened
]


def command_type(vendor: str, action: str) -> str:
    return f"{COMMAND_PREFIX}{vendor}.{action}"


def split_type(event_type: str) -> tuple[str, str] | None:
    """(vendor, action) of `command.<vendor>.<action>`; None for another type."""
    match = re.fullmatch(r"command\.([a-z0-9]+)\.([a-z_]+)", event_type)
    return (match.group(1), match.group(2)) if match else None


class CommandData(BaseModel):
    """What every command carries; an action adds its fields. Validated strictly: unknown fields refused."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    vendor: ClassVar[str] = ""
    action: ClassVar[str] = ""

    command_id: UUID = Field(description="idempotency key chosen by the sender: a repeat is executed once")
    connection: str = Field(pattern=CONNECTION_ID, description="the connection id of the vendor")

    def subject(self) -> str:
        """The thing the command acts on (order, case, patient, file): subject and partition key."""
        raise NotImplementedError

    @classmethod
    def command_type(cls) -> str:
        return command_type(cls.vendor, cls.action)

    def partition_key(self) -> str:
        return f"{self.vendor}:{self.connection}:{self.subject()}"


class CommandResult(BaseModel):
    """`command.succeeded` / `command.failed`: what became of one command."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    command_id: str
    command_type: str
    vendor: str
    connection: str
    subject: str | None = None
    succeeded: bool
    reason: Reason | None = Field(None, description="why it failed (command.failed only)")
    message: str | None = Field(None, description="a sentence for a person; the vendor's message if any")
    retryable: bool = Field(False, description="whether sending the command again (new command_id) may help")
    vendor_status: int | None = Field(None, description="the vendor's HTTP status code, when it answered")
    vendor_error: str | None = Field(None, description="the vendor's error code (e.g. Medit `error`)")
    vendor_ids: dict[str, str] = Field(default_factory=dict,
                                       description="ids the command produced or touched (Medit file uuid…)")
    result: dict[str, Any] | None = Field(None, description="what the vendor answered, when it is useful")
    reconciled: bool = Field(False, description="decided by reading the vendor's state after a restart")
    completed_at: datetime
