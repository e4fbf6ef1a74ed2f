"""What a vendor gives the executor for one command type (DESIGN.md §10, §11 "a vendor is a plug-in").

    prepare    before the command is claimed: what can be refused without the vendor (InvalidCommand)
               and what is worth doing before (measuring a file to upload); nothing sent to the vendor
    execute    the vendor call(s); `run.progress` records what the vendor answered as it answers
    reconcile  after a restart found the command "started": read the vendor's state, never call again;
               `CommandFailed("outcome_unknown")` when the state cannot tell

Each returns `Done` (finished: `command.succeeded`), `Awaiting` (the vendor answers later, e.g. the
Medit upload callback) or raises `CommandFailed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from consumers.context import WorkContext
from schemas.commands.base import CommandData
from state.commandlog import CommandLog, CommandRecord
from state.errors import VersionConflict


@dataclass(frozen=True)
class Done:
    vendor_ids: Mapping[str, str] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    reconciled: bool = False


@dataclass(frozen=True)
class Awaiting:
    vendor_ids: Mapping[str, str] = field(default_factory=dict)


Outcome = Done | Awaiting


class Run:
    """One execution of a claimed command: the context, and the log record as it moves."""

    def __init__(self, ctx: WorkContext, log: CommandLog, record: CommandRecord) -> None:
        self.ctx = ctx
        self.log = log
        self.record = record

    async def progress(self, **changes: Any) -> None:
        """Record what the vendor answered so far, before acting on it. The vendor's later answer may
        finish the command meanwhile (the receiver matched Medit's callback): then the record is kept."""
        try:
            self.record = await self.log.update(self.record, progress={**self.record.progress, **changes})
        except VersionConflict:
            current = await self.log.get(self.record.command_id)
            if current is None:
                raise
            self.record = current if current.finished else await self.log.update(
                current, progress={**current.progress, **changes})

    async def link(self, kind: str, vendor_id: str) -> None:
        """A later vendor answer about `vendor_id` belongs to this command (see CommandLog.link)."""
        record = self.record
        await self.log.link(record.vendor, record.connection, kind, vendor_id, record.command_id)


class NothingToClose:
    """For an action whose `prepare` holds nothing to release."""

    async def close(self, prepared: Any) -> None:
        return None


class Action(Protocol):
    model: type[CommandData]

    async def prepare(self, command: Any, ctx: WorkContext) -> Any:
        """Refuse (InvalidCommand) or get ready without calling the vendor; what it returns goes to
        `execute` and is closed (`close`) after it."""
        ...

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome: ...

    async def reconcile(self, command: Any, run: Run) -> Outcome: ...

    async def close(self, prepared: Any) -> None: ...
