"""The worker loop: consume `scan.notified`, run each order in its own task (bounded), commit only
offsets whose work is done or dead-lettered (DESIGN.md §3 workers, STYLE.md §6 and §11)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from functools import partial

import structlog

from bus.base import Bus, Consumer, Delivery
from bus.deadletter import make_dead_letter
from bus.errors import BusUnavailable, EventTooLarge
from consumers import health
from consumers.claims import OrderClaims
from consumers.context import Handler, WorkContext
from consumers.errors import PermanentError, StorageFull
from consumers.metrics import DEAD_LETTERS, ORDERS_IN_FLIGHT, RETRIES, WORKER_EVENTS
from consumers.offsets import OffsetTracker
from consumers.privacy import Privacy
from consumers.retry import Attempts, RetriesExhausted, backoff, retrying
from schemas import tracecontext
from schemas.envelope import Envelope
from schemas.events import ScanNotified
from schemas.topics import SCAN_NOTIFIED
from state.base import ConnectionKey
from state.errors import CorruptState, StaleLease, StateError, StateUnavailable

log = logging.getLogger(__name__)

UNEXPECTED_ATTEMPTS = 3


class Worker:
    def __init__(self, bus: Bus, handlers: Mapping[str, Handler], ctx: WorkContext) -> None:
        self._bus = bus
        self._handlers = handlers
        self._ctx = ctx
        self._topics = ctx.settings.bus.topics
        self._tracker = OffsetTracker()
        self._slots = asyncio.Semaphore(ctx.settings.worker.max_in_flight)
        self._order_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._lock_users: defaultdict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self.claims = OrderClaims(ctx.state.claims, ctx.settings.worker.claim_ttl_s, ctx.clock)
        self._done = asyncio.Event()
        self.counters: dict[str, int] = defaultdict(int)

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self._bus.consumer([self._topics.events], self._ctx.settings.worker.group)
        await consumer.start()
        try:
            while not stop.is_set():
                await self._slots.acquire()
                self._slots.release()
                free = max(1, self._ctx.settings.worker.max_in_flight - self._tracker.busy)
                try:
                    deliveries = await consumer.poll(max_records=free, timeout_s=0.5)
                except Exception as exc:  # noqa: BLE001 - a bus hiccup must not end the worker
                    self._count("poll_errors")
                    log.warning("poll failed, retrying: %s", type(exc).__name__)
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
        self._count("received")
        self._tracker.started(delivery.partition, delivery.offset)
        if delivery.event.type != SCAN_NOTIFIED:
            self._tracker.finished(delivery.partition, delivery.offset)
            return
        await self._slots.acquire()
        task = asyncio.create_task(self._work(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _work(self, delivery: Delivery) -> None:
        # This task's context only: every line logged while the event is worked on names it.
        structlog.contextvars.bind_contextvars(event_id=delivery.event.id,
                                               partition_key=delivery.event.partitionkey)
        ORDERS_IN_FLIGHT.inc()
        try:
            with tracecontext.handling(delivery.event.id, delivery.event.type, delivery.event.extensions):
                await self._process(delivery)
            self._tracker.finished(delivery.partition, delivery.offset)
        finally:
            ORDERS_IN_FLIGHT.dec()
            self._slots.release()

    async def _process(self, delivery: Delivery) -> None:
        """Return when the delivery is handled or dead-lettered; a cancelled task leaves it uncommitted."""
        event = delivery.event
        attempts = Attempts()
        unexpected = 0
        while True:
            try:
                notified = ScanNotified.model_validate(event.json_data())
                handler = self._handlers.get(notified.vendor)
                if handler is None:
                    raise PermanentError(f"no handler for vendor {notified.vendor!r}")
                # A full artifact store (a marker, an unpacked archive) is waited for, with long backoff.
                await retrying(partial(self._one_at_a_time, event.partitionkey, handler, notified),
                               policy=self._ctx.settings.worker.retry, clock=self._ctx.clock,
                               what=f"event {event.id}", attempts=attempts, retry_on=StorageFull)
                self._count("handled")
                await self._record_health(notified.vendor, notified.connection, None)
                return
            except BusUnavailable as exc:
                # Not the event's fault: wait for the bus, keep the offset where it is.
                self._count("bus_retries")
                RETRIES.labels("BusUnavailable").inc()
                log.warning("bus unavailable while handling %s: %s", event.id, exc)
                await self._ctx.clock.sleep(5.0)
            except StateUnavailable as exc:
                # Nor is a state store that does not answer: nothing is lost, the event is tried again.
                self._count("state_retries")
                log.warning("state store unavailable while handling %s: %s", event.id, exc)
                await self._ctx.clock.sleep(5.0)
            except StaleLease:
                # The order's claim was lost (consumers.claims): its work was cancelled; take it up again
                # once the claim is free (what the other worker announced is then skipped).
                self._count("claims_lost")
                await self._ctx.clock.sleep(1.0)
            except (PermanentError, RetriesExhausted, ValueError, EventTooLarge, CorruptState) as exc:
                # EventTooLarge: an event of this order is refused for its size; it never will fit.
                # CorruptState: a row of the connection cannot be read; its message names the connection.
                attempts.record(exc)
                await self._connection_failed(event, exc)
                await self._dead_letter(delivery, str(exc), attempts, type(exc).__name__)
                return
            except Exception as exc:
                self._count("errors")
                attempts.add(exc)
                unexpected += 1
                log.exception("handler failed for event %s (attempt %d)", event.id, unexpected)
                RETRIES.labels(type(exc).__name__).inc()
                if unexpected >= UNEXPECTED_ATTEMPTS:
                    await self._dead_letter(delivery, f"handler failed: {type(exc).__name__}", attempts,
                                            type(exc).__name__)
                    return
                await self._ctx.clock.sleep(backoff(unexpected, self._ctx.settings.worker.retry))

    async def _connection_failed(self, event: Envelope, exc: BaseException) -> None:
        """A failure of the vendor connection (not of this one order) goes into its health."""
        data = event.data if isinstance(event.data, dict) else {}
        vendor, connection = data.get("vendor"), data.get("connection")
        if isinstance(vendor, str) and isinstance(connection, str) and health.is_connection_failure(exc):
            await self._record_health(vendor, connection, exc)

    async def _record_health(self, vendor: str, connection: str, error: BaseException | None) -> None:
        """Best effort: the work is done (or dead-lettered) whether or not its health is written."""
        key = ConnectionKey(vendor, connection)
        try:
            if error is None:
                await self._ctx.health.ok(key)
            else:
                await self._ctx.health.error(key, error)
        except StateError as exc:
            log.warning("health of %s not recorded: %s", key, type(exc).__name__)

    def _count(self, outcome: str) -> None:
        self.counters[outcome] += 1
        WORKER_EVENTS.labels(outcome).inc()

    async def _one_at_a_time(self, key: str, handler: Handler, notified: ScanNotified) -> None:
        """Events of one order never run side by side (their effects are checked then written): in this
        worker (a lock), nor in any other worker on any host (the order's claim, consumers.claims)."""
        lock = self._order_locks[key]
        self._lock_users[key] += 1
        try:
            async with lock:
                await self.claims.run(key, partial(handler.handle, notified, self._ctx))
        finally:
            self._lock_users[key] -= 1
            if self._lock_users[key] == 0:
                del self._lock_users[key], self._order_locks[key]

    async def _dead_letter(self, delivery: Delivery, reason: str, attempts: Attempts, kind: str) -> None:
        original = Privacy.of(self._ctx.settings.privacy).event(delivery.event)  # it copies the event
        letter = make_dead_letter(original, delivery.partition.topic, reason, attempts.history)
        while True:
            try:
                await self._bus.publish(self._topics.deadletter, letter)
                self._count("dead_lettered")
                DEAD_LETTERS.labels(kind).inc()
                log.warning("event %s dead-lettered: %s", delivery.event.id, reason)
                return
            except BusUnavailable:
                await self._ctx.clock.sleep(5.0)

    async def _commit(self, consumer: Consumer) -> None:
        offsets = self._tracker.committable()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
            self._tracker.committed(offsets)
        except Exception as exc:  # noqa: BLE001 - a failed commit only means redelivery, which is idempotent
            log.warning("offset commit failed: %s", type(exc).__name__)
