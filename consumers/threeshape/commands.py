"""Watch and unwatch patients from the commands topic: a practice-management system publishes a
`command.watch_patients` (schemas.events.WatchPatients) and the connection's poller picks the patients
up (3shape-dental-desktop-pms-integration.txt, "Concept of patient mapping"). The watch set is in the state
store: the instance that holds the connection's lease polls a new patient at once when it is this
process, else at its next round (`poll_interval_s`).

Offsets are committed after a command is applied; an invalid one is dead-lettered with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from bus.base import Bus, Delivery, Partition
from bus.deadletter import make_dead_letter
from consumers.clock import Clock
from consumers.context import Shared
from consumers.privacy import Privacy
from consumers.threeshape.normalize import VENDOR
from consumers.threeshape.watchlist import WatchList
from schemas.envelope import Envelope
from schemas.events import WatchPatients
from schemas.settings import Settings, ThreeShapeConnection
from schemas.topics import WATCH_PATIENTS

log = logging.getLogger(__name__)

GROUP = "scanbridge-threeshape-commands"


class InvalidCommand(ValueError):
    pass


class WatchCommands:
    def __init__(self, bus: Bus, shared: Shared, privacy: Privacy, *, commands_topic: str,
                 deadletter_topic: str, group: str = GROUP) -> None:
        self._bus = bus
        self._shared = shared
        self._topic = commands_topic
        self._deadletter = deadletter_topic
        self._group = group
        self._privacy = privacy  # a dead letter copies the command, whose integration ids are patient ids
        self.counters: dict[str, int] = defaultdict(int)

    async def apply(self, event: Envelope) -> bool:
        """Apply one command; False when it is not ours. Raises InvalidCommand for a bad one."""
        if event.type != WATCH_PATIENTS:
            return False
        try:
            command = WatchPatients.model_validate(event.json_data())
        except (ValidationError, TypeError) as exc:
            raise InvalidCommand(f"not a valid {WATCH_PATIENTS}: {type(exc).__name__}") from None
        connection = self._shared.catalog.get(VENDOR, command.connection)
        if not isinstance(connection, ThreeShapeConnection):
            raise InvalidCommand(f"no 3shape connection {command.connection!r} is configured here")
        watchlist = WatchList(self._shared.state, connection)
        try:
            if command.action == "watch":
                changed = await watchlist.watch(command.integration_ids)
                self._shared.poll_soon(watchlist.key)
            else:
                changed = await watchlist.unwatch(command.integration_ids)
        except ValueError as exc:
            raise InvalidCommand(str(exc)) from None
        self.counters[command.action] += len(changed)
        log.info("3shape %s: %s %d patient(s) by command %s", command.connection, command.action,
                 len(changed), event.id)
        return True

    async def _handle(self, delivery: Delivery) -> None:
        try:
            await self.apply(delivery.event)
            self.counters["applied"] += 1
        except InvalidCommand as exc:
            self.counters["invalid"] += 1
            log.warning("command %s refused: %s", delivery.event.id, exc)
            letter = make_dead_letter(self._privacy.event(delivery.event), self._topic, str(exc),
                                      [(datetime.now(UTC), str(exc))])
            await self._bus.publish(self._deadletter, letter)

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._bus.consumer([self._topic], self._group)
        await consumer.start()
        try:
            while not stop.is_set():
                offsets: dict[Partition, int] = {}
                for delivery in await consumer.poll(timeout_s=0.5):
                    await self._handle(delivery)
                    offsets[delivery.partition] = delivery.offset + 1
                if offsets:
                    await consumer.commit(offsets)
        finally:
            await consumer.close()


def watch_command(
    connection: str, action: Literal["watch", "unwatch"], integration_ids: list[str]
) -> Envelope:
    """The envelope a practice-management system (or a test) publishes; keyed by the connection."""
    command = WatchPatients(connection=connection, action=action, integration_ids=integration_ids)
    return Envelope(id=str(uuid.uuid4()), source="scanbridge/commands", type=WATCH_PATIENTS,
                    subject=connection, partitionkey=f"3shape:{connection}",
                    data=command.model_dump(mode="json"))


def build_runners(settings: Settings, bus: Bus, clock: Clock, shared: Shared) -> list[WatchCommands]:
    """The listener of watch commands, when the catalog has a Dental Desktop server at start."""
    if not shared.catalog.of(ThreeShapeConnection):
        return []
    topics = settings.bus.topics
    return [WatchCommands(bus, shared, Privacy.of(settings.privacy), commands_topic=topics.commands,
                          deadletter_topic=topics.deadletter)]
