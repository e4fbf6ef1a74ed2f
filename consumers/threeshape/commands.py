"""Watch and unwatch patients from the commands topic: a practice-management system publishes a
`command.watch_patients` (schemas.events.WatchPatients) and the connection's poller picks the patients
up at once (3shape-dental-desktop-pms-integration.txt, "Concept of patient mapping").

Offsets are committed after a command is applied; an invalid one is dead-lettered with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from bus.base import Bus, Delivery, Partition
from bus.deadletter import make_dead_letter
from consumers.clock import Clock
from consumers.context import Shared
from consumers.privacy import Privacy
from consumers.threeshape.poller import ThreeShapePoller, build_pollers
from schemas.envelope import Envelope
from schemas.events import WatchPatients
from schemas.settings import Settings
from schemas.topics import WATCH_PATIENTS

log = logging.getLogger(__name__)

GROUP = "scanbridge-threeshape-commands"


class InvalidCommand(ValueError):
    pass


class WatchCommands:
    def __init__(self, bus: Bus, pollers: Mapping[str, ThreeShapePoller], *, commands_topic: str,
                 deadletter_topic: str, group: str = GROUP) -> None:
        self._bus = bus
        self._pollers = pollers
        self._topic = commands_topic
        self._deadletter = deadletter_topic
        self._group = group
        # a dead letter copies the command, whose integration ids are patient ids: as the policy says
        self._privacy = next((p.privacy for p in pollers.values()), Privacy("drop"))
        self.counters: dict[str, int] = defaultdict(int)

    def apply(self, event: Envelope) -> bool:
        """Apply one command; False when it is not ours. Raises InvalidCommand for a bad one."""
        if event.type != WATCH_PATIENTS:
            return False
        try:
            command = WatchPatients.model_validate(event.json_data())
        except (ValidationError, TypeError) as exc:
            raise InvalidCommand(f"not a valid {WATCH_PATIENTS}: {type(exc).__name__}") from None
        poller = self._pollers.get(command.connection)
        if poller is None:
            raise InvalidCommand(f"no 3shape connection {command.connection!r} is configured here")
        try:
            if command.action == "watch":
                changed = poller.watchlist.watch(command.integration_ids)
                poller.wake()
            else:
                changed = poller.watchlist.unwatch(command.integration_ids)
        except ValueError as exc:
            raise InvalidCommand(str(exc)) from None
        self.counters[command.action] += len(changed)
        log.info("3shape %s: %s %d patient(s) by command %s", command.connection, command.action,
                 len(changed), event.id)
        return True

    async def _handle(self, delivery: Delivery) -> None:
        try:
            self.apply(delivery.event)
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


def build_runners(settings: Settings, bus: Bus, clock: Clock,
                  shared: Shared) -> list[ThreeShapePoller | WatchCommands]:
    """A poller per Dental Desktop server of the catalog, plus the listener of watch commands for them."""
    pollers = build_pollers(settings, bus, clock, shared)
    if not pollers:
        return []
    topics = settings.bus.topics
    listener = WatchCommands(bus, {p.connection.id: p for p in pollers}, commands_topic=topics.commands,
                             deadletter_topic=topics.deadletter)
    return [*pollers, listener]
