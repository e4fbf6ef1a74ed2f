"""One subscription's deliveries (README "Delivering to HTTP endpoints").

Its own consumer group (`delivery.group_prefix` + id) reads the events and artifacts topics; a new
subscription starts at its creation time. Each partition key has a lane: its events go one after the other,
a failing head holds the key's later events (order per key, across retries), and up to `max_in_flight`
lanes send at once through the endpoint's gate (consumers/delivery/gate.py). An event is delivered once per
subscription (the store records it, and the `webhook-id` lets a receiver drop a repeat after a crash).
Offsets are committed only below undelivered events. An endpoint failing longer than `disable_after_s`
(or answering 410) disables the subscription: `subscription.disabled` is published, nothing more is read,
and what was not delivered stays on the bus for `scanbridge subscriptions enable`, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from bus.base import Bus, Consumer, Delivery
from bus.errors import BusUnavailable
from consumers.delivery.errors import EndpointGone, RetryLater, Undeliverable
from consumers.delivery.filters import matches
from consumers.delivery.gate import Gate
from consumers.delivery.metrics import DELIVERIES
from consumers.delivery.sender import Limits, send
from consumers.delivery.signing import structured
from consumers.offsets import OffsetTracker
from schemas import ids
from schemas.delivery import DeliverySettings
from schemas.envelope import Envelope
from schemas.events import SubscriptionDisabled
from schemas.topics import SUBSCRIPTION_DISABLED, Topics
from state.base import DeadDelivery, Subscription, Subscriptions

log = logging.getLogger(__name__)

ClientFor = Callable[[bool], httpx.AsyncClient]  # allow_private → the guarded client


class StateStore(Protocol):
    """What delivery needs of the state store (state.base.StateStore has it)."""

    @property
    def subscriptions(self) -> Subscriptions: ...


class _Halted(Exception):
    """The subscription was disabled: stop reading, leave the rest on the bus."""


def disabled_event(subscription: Subscription, failing_since: datetime, at: datetime,
                   last_error: str | None) -> Envelope:
    data = SubscriptionDisabled(
        subscription=subscription.id, endpoint_host=urlsplit(subscription.url).hostname or "",
        failing_since=failing_since, disabled_at=at, last_error=last_error,
        how=f"fix the endpoint, then run `scanbridge subscriptions enable {subscription.id}`",
    )
    return Envelope(
        id=ids.event_id(SUBSCRIPTION_DISABLED, "scanbridge", "delivery", subscription.id, at.isoformat()),
        source="scanbridge/delivery", type=SUBSCRIPTION_DISABLED, subject=subscription.id, time=at,
        partitionkey=f"subscription:{subscription.id}", data=data.model_dump(mode="json"),
    )


class SubscriptionRunner:
    def __init__(self, subscription: Subscription, *, bus: Bus, store: StateStore, topics: Topics,
                 settings: DeliverySettings, client_for: ClientFor) -> None:
        self.subscription = subscription
        self._bus = bus
        self._store = store
        self._topics = topics
        self._settings = settings
        self._client_for = client_for
        self._limits = Limits(settings.timeout_s, settings.max_response_bytes)
        self._gate = Gate(settings)
        self._tracker = OffsetTracker()
        self._lanes: dict[str, deque[Delivery]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._pending = 0
        self._progress = asyncio.Event()
        self._halt = asyncio.Event()
        self._failing = subscription.failing_since is not None
        self.counters: Counter[str] = Counter()

    @property
    def group(self) -> str:
        return f"{self._settings.group_prefix}{self.subscription.id}"

    def update(self, subscription: Subscription) -> None:
        """New settings (URL, filters, secrets) apply from the next attempt on."""
        self.subscription = subscription

    async def run(self, stop: asyncio.Event) -> None:
        topics = [self._topics.events, self._topics.artifacts]
        fresh = not await self._committed(topics, stop)
        consumer = self._bus.consumer(topics, self.group)
        await consumer.start()
        try:
            if fresh and self.subscription.created_at is not None:
                await consumer.seek_to_time(self.subscription.created_at)
            while not stop.is_set() and not self._halt.is_set():
                await self._read(consumer)
                await self._commit(consumer)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._commit(consumer)
            await consumer.close()

    async def _committed(self, topics: list[str], stop: asyncio.Event) -> bool:
        """Whether the group committed before (a new group's coordinator may need a moment on Kafka)."""
        while True:
            try:
                return bool(await self._bus.committed(self.group, topics))
            except BusUnavailable as exc:
                if stop.is_set():
                    raise
                log.info("subscription %s: %s; asking again", self.subscription.id, exc)
                await asyncio.sleep(1.0)

    @property
    def halted(self) -> bool:
        return self._halt.is_set()

    async def _read(self, consumer: Consumer) -> None:
        room = self._settings.max_pending - self._pending
        if room <= 0:  # read no further ahead: wait for a lane to move
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), 0.5)
            except TimeoutError:
                pass
            return
        try:
            deliveries = await consumer.poll(max_records=min(room, 500), timeout_s=0.5)
        except Exception as exc:  # noqa: BLE001 - a bus hiccup must not end the subscription
            log.warning("subscription %s: poll failed, retrying: %s", self.subscription.id, exc)
            await asyncio.sleep(1.0)
            return
        # The events and artifacts topics of one key are two logs: read in publish-time order within a batch,
        # and a lane keeps its waiting events in that order too (its head may be on its way already).
        for delivery in sorted(deliveries, key=lambda d: d.timestamp_ms):
            self._tracker.started(delivery.partition, delivery.offset)
            if not matches(self.subscription, delivery.event):
                self._tracker.finished(delivery.partition, delivery.offset)
                continue
            self._pending += 1
            lane = self._lanes.get(delivery.event.partitionkey)
            if lane is not None:
                _insert_by_time(lane, delivery)
                continue
            self._lanes[delivery.event.partitionkey] = deque([delivery])
            task = asyncio.create_task(self._lane(delivery.event.partitionkey))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _lane(self, key: str) -> None:
        lane = self._lanes[key]
        try:
            while lane and not self._halt.is_set():
                delivery = lane[0]
                try:
                    await self._deliver(delivery.event, delivery.partition.topic)
                except _Halted:
                    self._halt.set()
                    return
                except Exception:  # the store or the bus failed us: keep the event, try again
                    log.exception("subscription %s: delivery of %s failed unexpectedly",
                                  self.subscription.id, delivery.event.id)
                    await asyncio.sleep(5.0)
                    continue
                lane.popleft()
                self._tracker.finished(delivery.partition, delivery.offset)
                self._pending -= 1
                self._progress.set()
        finally:
            if not lane:
                self._lanes.pop(key, None)

    def _count(self, outcome: str) -> None:
        self.counters[outcome] += 1
        DELIVERIES.labels(self.subscription.id, outcome).inc()

    async def _deliver(self, event: Envelope, topic: str) -> None:
        subs = self._store.subscriptions
        if await subs.delivered(self.subscription.id, event.id):
            self._count("skipped")
            return
        attempts = 0
        while True:
            probing = await self._gate.enter()
            try:
                attempts += 1
                subscription = self.subscription
                client = self._client_for(subscription.allow_private or self._settings.allow_private)
                async with self._slots:
                    await send(client, subscription, event, self._limits)
            except Undeliverable as exc:
                await self._answered()
                await self._dead_letter(event, topic, str(exc), attempts)
                return
            except EndpointGone as exc:
                await self._disable(str(exc))
                raise _Halted from exc
            except RetryLater as exc:
                self._count("retried")
                wait = self._gate.failed(exc.retry_after)
                now = datetime.now(UTC)
                since = await subs.record_failure(subscription.id, str(exc), now)
                self._failing = True
                log.info("subscription %s: %s; next try in %.1f s", subscription.id, exc, wait)
                if now - since >= timedelta(seconds=self._settings.disable_after_s):
                    await self._disable(str(exc), since)
                    raise _Halted from exc
                continue
            finally:
                self._gate.leave(probing)
            await self._answered()
            await subs.mark_delivered(subscription.id, event.id)
            self._count("delivered")
            return

    async def _answered(self) -> None:
        """The endpoint answered: open the gate, and clear a failing state once."""
        self._gate.succeeded()
        if self._failing:
            self._failing = False
            await self._store.subscriptions.record_success(self.subscription.id)

    async def _dead_letter(self, event: Envelope, topic: str, reason: str, attempts: int) -> None:
        await self._store.subscriptions.add_dead_letter(DeadDelivery(
            self.subscription.id, event.id, topic, structured(event), reason, attempts))
        self._count("dead_lettered")
        log.warning("subscription %s: event %s dead-lettered: %s", self.subscription.id, event.id, reason)

    async def _disable(self, reason: str, since: datetime | None = None) -> None:
        now = datetime.now(UTC)
        if await self._store.subscriptions.disable(self.subscription.id, now):
            self._count("disabled")
            log.warning("subscription %s disabled: %s", self.subscription.id, reason)
            event = disabled_event(self.subscription, since or now, now, reason)
            for _ in range(12):  # the state says it; the event is for whoever watches
                try:
                    await self._bus.publish(self._topics.events, event)
                    break
                except BusUnavailable:
                    await asyncio.sleep(5.0)
        self._halt.set()

    async def _commit(self, consumer: Consumer) -> None:
        offsets = self._tracker.committable()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
            self._tracker.committed(offsets)
        except Exception as exc:  # noqa: BLE001 - a failed commit only means redelivery, which is skipped
            log.warning("subscription %s: commit failed: %s", self.subscription.id, type(exc).__name__)


def _insert_by_time(lane: deque[Delivery], delivery: Delivery) -> None:
    """Append, or put it before later-published waiting events of another topic (never before the head)."""
    at = len(lane)
    while at > 1 and lane[at - 1].timestamp_ms > delivery.timestamp_ms \
            and lane[at - 1].partition.topic != delivery.partition.topic:
        at -= 1
    lane.insert(at, delivery)
