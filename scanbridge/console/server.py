"""The console as a process part: `scanbridge console` on its own, or inside `scanbridge run` on its own
port (`console.host:console.port`, 127.0.0.1 by default). It opens the artifact store read-only (no sweep:
that is the worker's) and runs the orders indexer beside the pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn

from bus.base import Bus
from consumers.artifacts.factory import make_store
from consumers.clock import RealClock
from scanbridge.console.app import create_console_app
from scanbridge.console.context import Console
from scanbridge.console.indexer import run_indexer
from scanbridge.shared import open_state
from schemas.settings import Settings
from state.shared import SharedState

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _state(settings: Settings, shared: SharedState | None) -> AsyncIterator[SharedState]:
    if shared is not None:
        yield shared
        return
    async with open_state(settings) as opened:
        yield opened


async def serve_console(settings: Settings, bus: Bus, stop: asyncio.Event, shared: SharedState | None = None,
                        *, local_metrics: bool = True) -> None:
    """The pages and the orders indexer until `stop`."""
    if not settings.console.enabled:
        log.warning("console not started: no console.admin_secret_file, no console.accounts (README Console)")
        return
    store = make_store(settings.storage, policy=settings.worker.retry, clock=RealClock())
    await store.start(sweep=False)
    try:
        async with _state(settings, shared) as opened:
            console = Console(settings, opened, bus, store, local_metrics=local_metrics)
            config = uvicorn.Config(create_console_app(console), host=settings.console.host,
                                    port=settings.console.port, log_config=None, access_log=False,
                                    lifespan="off")
            server = uvicorn.Server(config)
            indexing = asyncio.create_task(run_indexer(bus, opened.store.orders, settings.bus.topics, stop))
            sampling = asyncio.create_task(console.figures.sample(stop))
            serving = asyncio.create_task(server.serve())
            log.info("console on http://%s:%d", settings.console.host, settings.console.port)
            await stop.wait()
            server.should_exit = True
            await asyncio.gather(serving, indexing, sampling)
    finally:
        await store.close()
