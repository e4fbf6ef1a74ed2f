"""Assemble the processes from one Settings object: receiver, worker, pollers, or all in one process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from bus.base import Bus
from bus.factory import make_bus
from consumers.clock import Clock, RealClock
from consumers.context import WorkContext
from consumers.http import new_client
from consumers.itero.poller import build_pollers
from consumers.meditlink.poller import build_pollers as build_medit_pollers
from consumers.publish import Publisher
from consumers.registry import build_handlers
from consumers.storage import FolderStore
from consumers.threeshape.commands import build_runners as build_threeshape_runners
from consumers.worker import Worker
from receiver.app import create_app
from scanbridge.configload import load_settings as load_settings  # re-exported for the commands
from schemas.settings import Settings


@contextlib.asynccontextmanager
async def started_bus(settings: Settings, *, spool: bool = False) -> AsyncIterator[Bus]:
    """The configured bus; `spool` puts the receiver's local spool in front of Kafka (DESIGN.md §4)."""
    spool_path = settings.bus.spool_path if spool and settings.bus.backend == "kafka" else None
    bus = make_bus(settings.bus, spool_path=spool_path)
    await bus.ensure_topics(settings.bus.topics.all())
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


def stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_worker(settings: Settings, bus: Bus, stop: asyncio.Event, clock: Clock | None = None,
                     store: FolderStore | None = None) -> None:
    handlers = build_handlers(settings)
    store = store or FolderStore(settings.storage.root)
    await asyncio.to_thread(store.remove_leftovers)  # .part files of a worker that was killed
    async with new_client(settings.worker.retry.request_timeout_s) as http:
        ctx = WorkContext(settings=settings, publisher=Publisher(bus, settings.bus.topics, settings.events),
                          store=store, clock=clock or RealClock(), http=http)
        try:
            await Worker(bus, handlers, ctx).run(stop)
        finally:
            for handler in {id(h): h for h in handlers.values()}.values():
                await handler.close()


async def run_pollers(settings: Settings, bus: Bus, stop: asyncio.Event, clock: Clock | None = None) -> None:
    """One task per polled connection (DESIGN.md §3 pollers); each survives its own failures."""
    async with new_client(settings.worker.retry.request_timeout_s) as http:
        clock = clock or RealClock()
        pollers: list[Any] = [*build_pollers(settings, bus, http, clock),
                              *build_medit_pollers(settings, bus, http, clock),
                              *build_threeshape_runners(settings, bus, clock)]
        await asyncio.gather(*(poller.run(stop) for poller in pollers))


async def run_receiver(settings: Settings, bus: Bus, stop: asyncio.Event) -> None:
    app = create_app(settings, bus, manage_bus=False)
    config = uvicorn.Config(app, host=settings.receiver.host, port=settings.receiver.port,
                            log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving


async def run(settings: Settings, *, receiver: bool, worker: bool, poller: bool = False) -> None:
    stop = stop_event()
    async with contextlib.AsyncExitStack() as stack:
        tasks = []
        if receiver:  # its own bus: with Kafka, a spool answers 202 while Kafka is down
            ingress = await stack.enter_async_context(started_bus(settings, spool=True))
            tasks.append(run_receiver(settings, ingress, stop))
        if worker or poller:
            bus = await stack.enter_async_context(started_bus(settings))
            if worker:
                tasks.append(run_worker(settings, bus, stop))
            if poller:
                tasks.append(run_pollers(settings, bus, stop))
        await asyncio.gather(*tasks)
