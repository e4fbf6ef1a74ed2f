"""What the iTero and 3Shape command tests share: a bus (local or Kafka, from `bus_settings`), the state
store, an executor running over the registered vendors, and helpers to send a command and read its result
(the Medit tests have theirs in conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bus.base import Bus
from consumers.clock import RealClock
from consumers.commands.executor import Executor, fingerprint
from consumers.context import Shared, WorkContext
from consumers.http import new_client
from consumers.publish import Publisher
from scanbridge import vendors
from scanbridge.plugin import actions_of, vendor_names
from schemas.commands.base import CommandData
from schemas.envelope import Envelope
from schemas.settings import Settings
from schemas.topics import Topics
from state.commandlog import CommandLog, CommandRecord
from tests.events import collect
from tests.shared import shared_state

RESULT_TYPES = ("command.succeeded", "command.failed")


@dataclass
class Commands:
    settings: Settings
    bus: Bus
    shared: Shared
    ctx: WorkContext

    @property
    def topics(self) -> Topics:
        return self.settings.bus.topics

    @property
    def log(self) -> CommandLog:
        return CommandLog(self.shared.state)

    async def send(self, command: CommandData) -> Envelope:
        event = Envelope(id=str(uuid.uuid4()), source="tests/commands", type=command.command_type(),
                         subject=command.subject(), partitionkey=command.partition_key(),
                         data=command.model_dump(mode="json"))
        await self.bus.publish(self.topics.commands, event)
        return event

    async def results(self, command_id: str, count: int = 1) -> list[Envelope]:
        def mine(events: list[Envelope]) -> list[Envelope]:
            return [e for e in events
                    if e.type in RESULT_TYPES and e.json_data().get("command_id") == command_id]
        return mine(await collect(self.bus, [self.topics.events], lambda got: len(mine(got)) >= count))

    async def result(self, command_id: str) -> dict[str, Any]:
        return (await self.results(command_id))[0].json_data()

    async def started(self, command: CommandData, **progress: Any) -> CommandRecord:
        """The log record an executor writes before calling the vendor (and what it recorded since): as
        if it died right there."""
        record = CommandRecord(command_id=str(command.command_id), type=command.command_type(),
                               vendor=command.vendor, connection=command.connection,
                               subject=command.subject(),
                               partitionkey=command.partition_key(),
                               fingerprint=fingerprint(command.command_type(), command))
        mine, claimed = await self.log.claim(record)
        assert mine
        return await self.log.update(claimed, progress=progress) if progress else claimed


class _NoStore:
    """These commands never touch the artifact store."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the artifact store was used: {name}")


@asynccontextmanager
async def executing(settings: Settings, bus: Bus) -> AsyncIterator[Commands]:
    """The state store of `settings` and an executor running over it until the block ends."""
    async with shared_state(settings) as shared, new_client(10.0) as http:
        ctx = WorkContext(settings=settings, publisher=Publisher(bus, settings.bus.topics, settings.events),
                          store=_NoStore(), clock=RealClock(), http=http, shared=shared)  # type: ignore[arg-type]
        executor = Executor(bus, actions_of(vendors.VENDORS), vendor_names(vendors.VENDORS), ctx)
        stop = asyncio.Event()
        task = asyncio.create_task(executor.run(stop))
        try:
            yield Commands(settings, bus, shared, ctx)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
