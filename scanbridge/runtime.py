"""Assemble the processes from one Settings object: receiver, worker, pollers, or all in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator

import uvicorn

from bus.base import Bus
from bus.errors import BusRefused, BusUnavailable
from bus.factory import make_bus
from consumers.artifacts.base import ArtifactStore
from consumers.artifacts.factory import make_store
from consumers.artifacts.route import create_route_app
from consumers.clock import Clock, RealClock
from consumers.commands.executor import Executor
from consumers.context import Shared, WorkContext
from consumers.delivery.deliverer import run_delivery
from consumers.http import new_client
from consumers.polling import PollerRuntime
from consumers.publish import Publisher
from consumers.worker import Worker
from scanbridge import eventloop
from scanbridge import vendors as registry
from scanbridge.configload import load_settings as load_settings  # re-exported for the commands
from scanbridge.httpwrites import JoinedWritesProtocol
from scanbridge.opsserver import READY, Readiness, serve_ops
from scanbridge.plugin import actions_of, handlers_of, poller_builder, runners_of, vendor_names
from scanbridge.receiving import create_app
from scanbridge.shared import consumer_state, open_state
from schemas.settings import Settings
from state.factory import make_state_store
from state.shared import SharedState

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def started_bus(settings: Settings, *, spool: bool = False,
                      wait: asyncio.Event | None = None) -> AsyncIterator[Bus]:
    """The configured bus; `spool` puts the receiver's local spool in front of Kafka (DESIGN.md §4).

    With `wait` (a stop event), a bus that is unreachable is retried until it answers or `wait` is
    set, instead of failing; one line says so per WAIT_REPORT_S. A broker that refuses us still fails.
    """
    spool_path = settings.bus.spool_path if spool and settings.bus.backend == "kafka" else None
    bus = make_bus(settings.bus, spool_path=spool_path)
    if wait is None:
        await bus.ensure_topics(settings.bus.topics.all())
    else:
        await _until_reachable(bus, settings, wait)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


WAIT_RETRY_S = 5.0
WAIT_REPORT_S = 60.0


async def _until_reachable(bus: Bus, settings: Settings, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    reported = -WAIT_REPORT_S
    while True:
        try:
            await bus.ensure_topics(settings.bus.topics.all())
        except BusRefused:
            raise
        except BusUnavailable as exc:
            now = loop.time()
            if now - reported >= WAIT_REPORT_S:
                reported = now
                log.warning("bus unreachable for %.0f s; waiting for it (retrying every %g s, next report "
                            "in %g s): %s", now - started, WAIT_RETRY_S, WAIT_REPORT_S, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WAIT_RETRY_S)
            if stop.is_set():
                raise Stopped from None
            continue
        if loop.time() - started > WAIT_RETRY_S:
            log.warning("bus reachable after %.0f s", loop.time() - started)
        return


class Stopped(Exception):
    """Asked to stop while waiting for the bus."""


def stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_worker(settings: Settings, bus: Bus, stop: asyncio.Event, clock: Clock | None = None,
                     store: ArtifactStore | None = None, shared: Shared | None = None) -> None:
    handlers = handlers_of(registry.VENDORS, settings)
    clock = clock or RealClock()
    store = store or make_store(settings.storage, policy=settings.worker.retry, clock=clock)
    await store.start()  # folder: removes the .part files of a killed worker; s3: client, sweep
    timeout = settings.worker.retry.request_timeout_s
    async with consumer_state(settings, shared) as opened, new_client(timeout) as http:
        ctx = WorkContext(settings=settings, publisher=Publisher(bus, settings.bus.topics, settings.events),
                          store=store, clock=clock, http=http, shared=opened)
        actions = actions_of(registry.VENDORS)
        executor = (Executor(bus, actions, vendor_names(registry.VENDORS), ctx)
                    if settings.commands.enabled and actions else None)
        try:
            # The command executor runs in the worker process (DESIGN.md §3): one HTTP client, store, state.
            runs = [Worker(bus, handlers, ctx).run(stop), *([executor.run(stop)] if executor else [])]
            await asyncio.gather(*runs)
        finally:
            for handler in {id(h): h for h in handlers.values()}.values():
                await handler.close()
            await store.close()


async def run_pollers(settings: Settings, bus: Bus, stop: asyncio.Event, clock: Clock | None = None,
                      shared: Shared | None = None, readiness: Readiness | None = None) -> None:
    """The one poller runtime over the catalog's connections of every registered vendor, with the leases
    of the state store (DESIGN.md §3 pollers, §7 Ownership, §11), and the vendors' listeners beside it;
    `readiness` reports what it cannot poll."""
    clock = clock or RealClock()
    timeout = settings.worker.retry.request_timeout_s
    async with consumer_state(settings, shared) as opened, new_client(timeout) as http:
        build = poller_builder(registry.VENDORS, settings, bus, http, clock, opened)
        catalog = opened.catalog
        runtime = PollerRuntime(opened.state, catalog.items, lambda: catalog.generation, build, clock=clock,
                                ttl_s=settings.poller.lease_ttl_s, wakeups=opened.wakeups,
                                health=opened.health)
        if readiness is not None:
            readiness.checks.append(lambda: runtime.status.describe())
        runners = runners_of(registry.VENDORS, settings, bus, clock, opened)
        await asyncio.gather(runtime.run(stop), *(runner.run(stop) for runner in runners))


async def run_receiver(settings: Settings, bus: Bus, stop: asyncio.Event,
                       shared: SharedState | None = None, readiness: Readiness | None = None,
                       listen: socket.socket | None = None) -> None:
    """uvicorn on the running loop (uvloop under `eventloop.run`), httptools with an answer's writes joined
    (scanbridge/httpwrites.py), no access log; on `listen`
    (a bound socket: one of several receiver processes, scanbridge/receivers.py) or host:port."""
    app = create_app(settings, bus, manage_bus=False, shared=shared,
                     problems=None if readiness is None else readiness.problems)
    config = uvicorn.Config(app, host=settings.receiver.host, port=settings.receiver.port,
                            log_config=None, access_log=False, lifespan="on", http=JoinedWritesProtocol)
    server = uvicorn.Server(config)
    loop, http, pid = eventloop.describe(), eventloop.http_protocol(), os.getpid()
    log.info("receiver on %s:%d (event loop %s, HTTP %s, pid %d)", settings.receiver.host,
             settings.receiver.port, loop, http, pid, extra={"event_loop": loop, "http": http, "pid": pid})
    serving = asyncio.create_task(server.serve(sockets=[listen] if listen is not None else None))
    await stop.wait()
    server.should_exit = True
    await serving


async def serve_artifacts(settings: Settings, stop: asyncio.Event) -> None:
    """`scanbridge artifacts serve`: the artifact route on its own port, over the configured store; the
    artifacts are found by id in the state store (their announcement markers)."""
    store = make_store(settings.storage, policy=settings.worker.retry, clock=RealClock())
    state = make_state_store(settings.state)
    await store.start(sweep=False)  # only reads: the sweep of spools and uploads belongs to the worker
    try:
        await state.start()
        app = create_route_app(settings.artifacts, store, state)
        config = uvicorn.Config(app, host=settings.artifacts.host, port=settings.artifacts.port,
                                log_config=None, access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await serving
    finally:
        await state.close()
        await store.close()


async def serve_receiver(settings: Settings, stop: asyncio.Event, shared: SharedState | None = None,
                         readiness: Readiness | None = None, listen: socket.socket | None = None) -> None:
    """The receiver on its own bus: with Kafka, a spool answers 202 while Kafka is down; `readiness`: of the
    worker and pollers of the same process, shown by the receiver's `/readyz`."""
    async with started_bus(settings, spool=True) as ingress:
        await run_receiver(settings, ingress, stop, shared, readiness, listen)


async def serve_consumers(settings: Settings, stop: asyncio.Event, *, worker: bool, poller: bool,
                          readiness: Readiness | None = None, delivery: bool = False,
                          shared: Shared | None = None) -> None:
    """Worker and pollers on one bus, waited for when it is down at start (the receiver spools meanwhile)."""
    readiness = readiness or Readiness()
    readiness.status = "waiting for the bus"
    try:
        async with started_bus(settings, wait=stop) as bus:
            readiness.status = READY
            await asyncio.gather(*([run_worker(settings, bus, stop, shared=shared)] if worker else []),
                                 *([run_pollers(settings, bus, stop, shared=shared, readiness=readiness)]
                                   if poller else []),
                                 *([run_delivery(settings, bus, stop)] if delivery else []))
    except Stopped:
        return


async def run_console(settings: Settings, stop: asyncio.Event, shared: SharedState) -> None:
    """The console inside `scanbridge run`, on its own port and bus connection, waiting for the bus."""
    from scanbridge.console.server import serve_console  # jinja2 and argon2 only where the console runs

    try:
        async with started_bus(settings, wait=stop) as bus:
            await serve_console(settings, bus, stop, shared)
    except Stopped:
        return


async def run(settings: Settings, *, receiver: bool, worker: bool, poller: bool = False,
              stop: asyncio.Event | None = None, delivery: bool = False,
              listen: socket.socket | None = None) -> None:
    """The processes asked for, until SIGINT/SIGTERM (or `stop` is set), sharing one state store;
    the receiver on `listen` when given (a socket bound for it), else on receiver.host:port."""
    stop = stop or stop_event()
    async with open_state(settings) as opened:
        tasks = []
        readiness = Readiness()
        if receiver:
            tasks.append(serve_receiver(settings, stop, opened, readiness, listen))
        elif settings.ops.port:  # the receiver's port already serves /healthz, /readyz and /metrics
            tasks.append(serve_ops(settings.ops.host, settings.ops.port, readiness, stop))
        if receiver and worker and settings.console.port and settings.console.enabled:  # `scanbridge run`
            tasks.append(run_console(settings, stop, opened))
        if worker or poller or delivery:
            tasks.append(serve_consumers(settings, stop, worker=worker, poller=poller, readiness=readiness,
                                         delivery=delivery, shared=Shared(opened.store, opened.catalog)))
        await asyncio.gather(*tasks)
