"""The command executor (DESIGN.md §10): consume `command.<vendor>.<action>` from the commands topics,
refuse what is invalid without calling the vendor, execute the rest once, publish the result.

Per delivery: validate (schema, authorization, connection, its health, the action's own checks: refusals
are `command.failed` + a dead letter, and are not logged, so the same command may be sent again once the
cause is fixed) → look the command id up in the command log → new: claim it ("started") and call the
vendor; seen: publish its recorded result again (finished), or reconcile by reading the vendor's state
(started: we stopped between the call and the record; awaiting: the vendor's later answer may be lost).
Commands on one subject run one at a time, in order; offsets are committed only for finished work.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from bus.base import Bus, Consumer, Delivery
from bus.deadletter import make_dead_letter
from bus.errors import BusUnavailable
from consumers.commands.action import Action, Awaiting, Done, Outcome, Run
from consumers.commands.metrics import COMMANDS
from consumers.context import WorkContext
from consumers.errors import CommandFailed, InvalidCommand
from consumers.offsets import OffsetTracker
from consumers.privacy import Privacy
from schemas.commands.base import CommandData, CommandResult, split_type
from schemas.commands.results import result_event
from schemas.envelope import Envelope
from state.base import ConnectionKey
from state.commandlog import CommandLog, CommandRecord
from state.errors import StateUnavailable, VersionConflict

log = logging.getLogger(__name__)

UNEXPECTED_ATTEMPTS = 3
POLL_RECORD_S = 0.5
BLOCKED_STATUSES = {"needs_reauthorization": "needs re-authorization", "unpaired": "is un-paired"}


def fingerprint(event_type: str, command: CommandData) -> str:
    """Of the type and the data: the same command_id with anything else is a reused id."""
    body = json.dumps([event_type, command.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def allowed(patterns: list[str], vendor: str, connection: str) -> bool:
    return any(fnmatch.fnmatchcase(f"{vendor}/{connection}", p) or p == "*" for p in patterns)


class Executor:
    def __init__(self, bus: Bus, actions: Mapping[str, Action], vendors: frozenset[str],
                 ctx: WorkContext) -> None:
        self._bus = bus
        self._actions = actions
        self._vendors = vendors
        self._ctx = ctx
        self._settings = ctx.settings.commands
        self._topics = ctx.settings.bus.topics
        shared = {self._topics.commands: self._settings.shared_topic_connections}
        self._allowed = {**shared, **{p.topic: p.connections for p in self._settings.producers}}
        self._log = CommandLog(ctx.state)
        self._tracker = OffsetTracker()
        self._slots = asyncio.Semaphore(self._settings.max_in_flight)
        self._subject_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._lock_users: defaultdict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters: dict[str, int] = defaultdict(int)

    @property
    def topics(self) -> list[str]:
        return list(self._allowed)

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._bus.consumer(self.topics, self._settings.group)
        await consumer.start()
        try:
            while not stop.is_set():
                await self._slots.acquire()
                self._slots.release()
                try:
                    deliveries = await consumer.poll(max_records=self._settings.max_in_flight, timeout_s=0.5)
                except Exception as exc:  # noqa: BLE001 - a bus hiccup must not end the executor
                    log.warning("command poll failed, retrying: %s", type(exc).__name__)
                    await self._ctx.clock.sleep(1.0)
                    continue
                for delivery in deliveries:
                    await self._start(delivery)
                await self._commit(consumer)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._commit(consumer)
            await consumer.close()

    async def _start(self, delivery: Delivery) -> None:
        self._tracker.started(delivery.partition, delivery.offset)
        await self._slots.acquire()
        task = asyncio.create_task(self._work(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, delivery: Delivery) -> None:
        key = delivery.event.partitionkey
        self._lock_users[key] += 1
        try:
            async with self._subject_locks[key]:
                await self._attempts(delivery)
            self._tracker.finished(delivery.partition, delivery.offset)
        finally:
            self._slots.release()
            self._lock_users[key] -= 1
            if not self._lock_users[key]:
                del self._lock_users[key], self._subject_locks[key]

    async def _attempts(self, delivery: Delivery) -> None:
        for attempt in range(1, UNEXPECTED_ATTEMPTS + 1):
            try:
                await self.handle(delivery)
                return
            except (BusUnavailable, StateUnavailable) as exc:
                log.warning("command %s waits: %s", delivery.event.id, type(exc).__name__)
                await self._ctx.clock.sleep(5.0)
            except Exception as exc:
                log.exception("command %s failed unexpectedly (attempt %d)", delivery.event.id, attempt)
                if attempt == UNEXPECTED_ATTEMPTS:
                    await self._dead_letter(delivery, f"executor failed: {type(exc).__name__}")
                    return
                await self._ctx.clock.sleep(float(attempt))

    async def handle(self, delivery: Delivery) -> None:
        event = delivery.event
        parsed = split_type(event.type)
        if parsed is None or parsed[0] not in self._vendors:
            return  # not a command of a vendor here (e.g. command.watch_patients has its own listener)
        self._count(event.type, "received")
        try:
            action, command = self._validate(event)
            self._authorize(delivery.partition.topic, command)
            await self._usable(command)
        except InvalidCommand as exc:
            await self._refuse(delivery, exc)
            return
        record = CommandRecord(
            command_id=str(command.command_id), type=event.type, vendor=command.vendor,
            connection=command.connection, subject=command.subject(), partitionkey=event.partitionkey,
            fingerprint=fingerprint(event.type, command))
        existing = await self._log.get(record.command_id)
        if existing is not None:
            await self._seen(delivery, existing, record, action, command)
            return
        try:
            prepared = await action.prepare(command, self._ctx)
        except InvalidCommand as exc:
            await self._refuse(delivery, exc, command)
            return
        try:
            mine, claimed = await self._log.claim(record)
            if not mine:
                await self._seen(delivery, claimed, record, action, command)
                return
            run = Run(self._ctx, self._log, claimed)
            try:
                outcome = await action.execute(command, run, prepared)
            except CommandFailed as exc:
                await self._failed(run, exc, delivery)
            else:
                await self._outcome(run, outcome)
        finally:
            await action.close(prepared)

    def _validate(self, event: Envelope) -> tuple[Action, CommandData]:
        action = self._actions.get(event.type)
        if action is None:
            raise InvalidCommand("invalid", f"unknown command type {event.type!r}")
        try:
            command = action.model.model_validate(event.json_data())
        except (ValidationError, TypeError) as exc:
            raise InvalidCommand("invalid", f"not a valid {event.type}: {_fields(exc)}") from None
        return action, command

    def _authorize(self, topic: str, command: CommandData) -> None:
        if not allowed(self._allowed.get(topic, []), command.vendor, command.connection):
            raise InvalidCommand("not_authorized", f"commands on {topic} may not target "
                                                   f"{command.vendor} connection {command.connection!r}")

    async def _usable(self, command: CommandData) -> None:
        if self._ctx.catalog.get(command.vendor, command.connection) is None:
            raise InvalidCommand("unknown_connection",
                                 f"no {command.vendor} connection {command.connection!r} is configured")
        key = ConnectionKey(command.vendor, command.connection)
        status = (await self._ctx.state.connections.health(key)).status
        if status in BLOCKED_STATUSES:
            raise InvalidCommand("needs_reauthorization", f"connection {command.connection!r} "
                                                          f"{BLOCKED_STATUSES[status]}: nothing was sent")

    async def _seen(self, delivery: Delivery, existing: CommandRecord, record: CommandRecord, action: Action,
                    command: CommandData) -> None:
        """A command id already in the log: never call the vendor again."""
        self._count(record.type, "repeated")
        if existing.fingerprint != record.fingerprint:
            exc = InvalidCommand("command_id_reused", f"command_id {record.command_id} was first used for "
                                                      f"another command ({existing.type})")
            await self._refuse(delivery, exc, command, fresh_id=True)
        elif existing.finished and existing.result is not None:
            result = CommandResult.model_validate(existing.result)
            await self._bus.publish(self._topics.events, result_event(result, existing.partitionkey))
        elif existing.phase == "started" and (moved := await self._still_moving(existing)) is not None:
            await self._seen(delivery, moved, record, action, command)  # the other executor finished it
        else:
            # started: we stopped between the call and its record; awaiting: the vendor's answer may have
            # been missed. Either way the vendor's state decides, never a second call.
            log.warning("command %s was %s and not finished: reconciling with the vendor's state",
                        existing.command_id, existing.phase)
            run = Run(self._ctx, self._log, existing)
            try:
                outcome = await action.reconcile(command, run)
            except CommandFailed as exc:
                await self._failed(run, exc, delivery, reconciled=True)
            else:
                await self._outcome(run, outcome)

    async def _still_moving(self, record: CommandRecord) -> CommandRecord | None:
        """A record written less than `reconcile_after_s` ago may belong to an executor still at work (a
        rebalance handed us its partition): wait for it to move. The moved record, or None once it rested."""
        rest = self._settings.reconcile_after_s
        while True:
            age = (datetime.now(UTC) - datetime.fromisoformat(record.updated_at)).total_seconds()
            if age >= rest:
                return None
            await self._ctx.clock.sleep(min(POLL_RECORD_S, rest - age))
            current = await self._log.get(record.command_id)
            if current is None or current.version != record.version:
                return current

    async def _outcome(self, run: Run, outcome: Outcome) -> None:
        if isinstance(outcome, Awaiting):
            progress = {**run.record.progress, **outcome.vendor_ids}
            await self._record(run, "awaiting_vendor", None, progress=progress)
            self._count(run.record.type, "awaiting_vendor")
            return
        assert isinstance(outcome, Done)
        result = self._result(run.record, succeeded=True, vendor_ids=dict(outcome.vendor_ids),
                              result=outcome.result, reconciled=outcome.reconciled)
        if await self._record(run, "succeeded", result):
            await self._bus.publish(self._topics.events, result_event(result, run.record.partitionkey))
            self._count(run.record.type, "succeeded")

    async def _failed(self, run: Run, exc: CommandFailed, delivery: Delivery, *,
                      reconciled: bool = False) -> None:
        result = self._result(run.record, succeeded=False, exc=exc, reconciled=reconciled,
                              vendor_ids={k: str(v) for k, v in run.record.progress.items()
                                          if k.endswith("_uuid") and isinstance(v, str)})
        if await self._record(run, "failed", result):
            await self._bus.publish(self._topics.events, result_event(result, run.record.partitionkey))
            self._count(run.record.type, f"failed_{exc.reason}")
            if isinstance(exc, InvalidCommand):
                await self._dead_letter(delivery, f"{exc.reason}: {exc.message}")

    async def _record(self, run: Run, phase: str, result: CommandResult | None, **changes: Any) -> bool:
        """False when someone else finished the command meanwhile (the vendor's callback came first)."""
        if run.record.finished:
            return False
        try:
            run.record = await self._log.update(
                run.record, phase=phase, result=result.model_dump(mode="json") if result else None, **changes)
        except VersionConflict:
            current = await self._log.get(run.record.command_id)
            if current is None or not current.finished:
                raise
            log.info("command %s was finished meanwhile (%s)", current.command_id, current.phase)
            return False
        return True

    @staticmethod
    def _result(record: CommandRecord, *, succeeded: bool, exc: CommandFailed | None = None,
                vendor_ids: dict[str, str] | None = None, result: dict[str, Any] | None = None,
                reconciled: bool = False) -> CommandResult:
        return CommandResult(
            command_id=record.command_id, command_type=record.type, vendor=record.vendor,
            connection=record.connection, subject=record.subject, succeeded=succeeded,
            reason=exc.reason if exc else None, message=exc.message if exc else None,  # type: ignore[arg-type]
            retryable=exc.retryable if exc else False, vendor_status=exc.vendor_status if exc else None,
            vendor_error=exc.vendor_error if exc else None, vendor_ids=vendor_ids or {}, result=result,
            reconciled=reconciled, completed_at=datetime.now(UTC))

    async def _refuse(self, delivery: Delivery, exc: InvalidCommand, command: CommandData | None = None, *,
                      fresh_id: bool = False) -> None:
        """`command.failed` (when the command names itself well enough) and a dead letter; no vendor call."""
        event = delivery.event
        data = event.data if isinstance(event.data, dict) else {}
        parsed = split_type(event.type)
        command_id = str(command.command_id) if command else data.get("command_id")
        connection = command.connection if command else data.get("connection")
        log.warning("command %s refused: %s", event.id, exc.reason)
        if isinstance(command_id, str) and isinstance(connection, str) and parsed:
            result = CommandResult(
                command_id=command_id[:64], command_type=event.type, vendor=parsed[0],
                connection=connection[:64],
                subject=event.subject, succeeded=False, reason=exc.reason,  # type: ignore[arg-type]
                message=exc.message, retryable=exc.retryable, completed_at=datetime.now(UTC))
            answer = result_event(result, event.partitionkey)
            if fresh_id:  # not the result of the command that first used this id
                answer = answer.model_copy(update={"id": str(uuid.uuid4())})
            await self._bus.publish(self._topics.events, answer)
        self._count(event.type, f"refused_{exc.reason}")
        await self._dead_letter(delivery, f"{exc.reason}: {exc.message}")

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        original = Privacy.of(self._ctx.settings.privacy).event(delivery.event)
        letter = make_dead_letter(original, delivery.partition.topic, reason, [(datetime.now(UTC), reason)])
        await self._bus.publish(self._topics.deadletter, letter)

    def _count(self, event_type: str, outcome: str) -> None:
        self.counters[outcome] += 1
        COMMANDS.labels(event_type if event_type in self._actions else "other", outcome.split("_")[0]).inc()

    async def _commit(self, consumer: Consumer) -> None:
        offsets = self._tracker.committable()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
            self._tracker.committed(offsets)
        except Exception as exc:  # noqa: BLE001 - a failed commit only means redelivery, which is idempotent
            log.warning("command offset commit failed: %s", type(exc).__name__)


def _fields(exc: Exception) -> str:
    """The names of the fields at fault, never their values (they may be a patient's)."""
    if isinstance(exc, ValidationError):
        parts = (f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors())
        return "; ".join(parts)[:500]
    return "data is not a JSON object"
