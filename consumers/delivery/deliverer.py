"""The delivery process (`scanbridge deliver`, and inside `scanbridge run`): one runner per active
subscription, started, updated and stopped as subscriptions are added, changed, enabled, disabled or removed
(the store's subscriptions revision is watched every `watch_interval_s`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bus.base import Bus
from consumers.delivery.address import delivery_client
from consumers.delivery.runner import StateStore, SubscriptionRunner
from schemas.delivery import DeliverySettings
from schemas.settings import Settings
from schemas.topics import Topics
from state.factory import make_state_store

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


@dataclass
class _Running:
    runner: SubscriptionRunner
    stop: asyncio.Event
    task: asyncio.Task[None]


class Deliverer:
    def __init__(self, bus: Bus, store: StateStore, topics: Topics, settings: DeliverySettings) -> None:
        self._bus = bus
        self._store = store
        self._topics = topics
        self._settings = settings
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self.running: dict[str, _Running] = {}

    def client(self, allow_private: bool) -> httpx.AsyncClient:
        if allow_private not in self._clients:
            self._clients[allow_private] = delivery_client(allow_private=allow_private,
                                                           timeout_s=self._settings.timeout_s)
        return self._clients[allow_private]

    async def run(self, stop: asyncio.Event) -> None:
        seen: int | None = None
        pruned = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                ended = self._reap()
                revision = await self._store.subscriptions.revision()
                if revision != seen or ended:
                    seen = revision
                    await self._reconcile()
                if loop.time() - pruned > PRUNE_EVERY_S:
                    pruned = loop.time()
                    before = datetime.now(UTC) - timedelta(seconds=self._settings.delivered_retention_s)
                    await self._store.subscriptions.prune_delivered(before)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._settings.watch_interval_s)
        finally:
            for running in self.running.values():
                running.stop.set()
            await asyncio.gather(*(r.task for r in self.running.values()), return_exceptions=True)
            self.running.clear()
            for client in self._clients.values():
                await client.aclose()

    def _reap(self) -> bool:
        """Forget runners that ended (disabled, or failed: they are started again); True if any did."""
        ended = [sid for sid, r in self.running.items() if r.task.done()]
        for sid in ended:
            task = self.running.pop(sid).task
            if not task.cancelled() and (exc := task.exception()) is not None:
                log.error("subscription %s: runner ended: %r; starting it again", sid, exc)
        return bool(ended)

    async def _reconcile(self) -> None:
        wanted = {s.id: s for s in await self._store.subscriptions.list() if s.status == "active"}
        for sid, running in list(self.running.items()):
            if sid not in wanted:
                running.stop.set()
                await asyncio.gather(running.task, return_exceptions=True)
                del self.running[sid]
            else:
                running.runner.update(wanted[sid])
        for sid, subscription in wanted.items():
            if sid in self.running:
                continue
            runner = SubscriptionRunner(subscription, bus=self._bus, store=self._store, topics=self._topics,
                                        settings=self._settings, client_for=self.client)
            stop = asyncio.Event()
            self.running[sid] = _Running(runner, stop, asyncio.create_task(runner.run(stop)))
            log.info("subscription %s: delivering", sid)


async def run_delivery(settings: Settings, bus: Bus, stop: asyncio.Event) -> None:
    """The deliverer on its own state store connection, until `stop`."""
    store = make_state_store(settings.state)
    await store.start()
    try:
        await Deliverer(bus, store, settings.bus.topics, settings.delivery).run(stop)
    finally:
        await store.close()
