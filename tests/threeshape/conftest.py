"""Dental Desktop simulators on real HTTPS loopback, pollers on a ManualClock, a worker, real Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.kafka import KafkaBus
from consumers.clock import ManualClock
from consumers.context import Shared
from consumers.threeshape.poller import ThreeShapePoller
from scanbridge.runtime import run_worker
from schemas.connections import revealed
from schemas.settings import (
    BusSettings,
    KafkaSettings,
    RetrySettings,
    Settings,
    StorageSettings,
    ThreeShapeConnection,
    WorkerSettings,
)
from schemas.topics import Topics
from simulators.threeshape import DentalDesktopState, TlsFiles, create_app, write_tls_files
from state.base import Connection, ConnectionKey
from tests.servers import serve
from tests.shared import shared_state

FAST_RETRY = RetrySettings(initial_delay_s=0.05, max_delay_s=0.3, not_ready_for_s=5.0,
                           server_error_for_s=5.0, request_timeout_s=10.0)
Asgi = Callable[..., Any]


@dataclass
class Server:
    state: DentalDesktopState
    tls: TlsFiles
    url: str

    def connection(self, id_: str, **options: Any) -> ThreeShapeConnection:
        url = httpx.URL(self.url)
        fields: dict[str, Any] = {"host": url.host, "port": url.port, "user": "Sam", "password": "qwerty123",
                                  "ca_thumbprint": self.tls.ca_thumbprint, "patients": ["123"]}
        return ThreeShapeConnection(id=id_, **(fields | options))


ServerFactory = Callable[..., AbstractAsyncContextManager[Server]]


@pytest.fixture
def dental_desktop(tmp_path: Path) -> ServerFactory:
    """`async with dental_desktop(wrap=…) as server`: a simulator with its own CA; `wrap` wraps its app."""

    @asynccontextmanager
    async def start(wrap: Callable[[Asgi], Asgi] | None = None) -> AsyncIterator[Server]:
        state = DentalDesktopState(users={"Sam": "qwerty123"})
        tls = write_tls_files(tmp_path / f"tls-{uuid.uuid4().hex[:6]}")
        app = create_app(state)
        async with serve(wrap(app) if wrap else app, ssl_certfile=str(tls.certfile),
                         ssl_keyfile=str(tls.keyfile), timeout_graceful_shutdown=1) as url:
            yield Server(state, tls, url)

    return start


@dataclass
class Stack:
    settings: Settings
    bus: KafkaBus
    shared: Shared
    clock: ManualClock = field(default_factory=ManualClock)
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    pollers: list[ThreeShapePoller] = field(default_factory=list)

    @property
    def topics(self) -> Topics:
        return self.settings.bus.topics

    def wall(self) -> datetime:
        """Wall time that moves with the manual clock."""
        return self.start + timedelta(seconds=self.clock.now())

    def poller(self, index: int = 0) -> ThreeShapePoller:
        """A new poller of connection `index` (a "process"); the fixture closes it."""
        poller = ThreeShapePoller(self.settings, self.settings.threeshape[index], self.bus, clock=self.clock,
                                  shared=self.shared, wall=self.wall)
        self.pollers.append(poller)
        return poller

    async def catalogued(self) -> None:
        """Write the stack's connections to the state store and reload the catalog (as the TOML seeds it)."""
        for connection in self.settings.threeshape:
            key = ConnectionKey("3shape", connection.id)
            await self.shared.state.connections.put(Connection(key, revealed(connection), "toml"))
        await self.shared.catalog.load()

    async def close(self) -> None:
        """Close the pollers' connections (before their servers stop, or shutdown waits on them)."""
        for poller in self.pollers:
            await poller.close()


@pytest.fixture
async def make_stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics,
                     kafka_bus: KafkaBus) -> AsyncIterator[Callable[..., Stack]]:
    stacks: list[Stack] = []
    opened = shared_state(Settings(state_dir=tmp_path / "state"))
    shared = await opened.__aenter__()  # the state store of every stack of the test, as one process's

    def build(*connections: ThreeShapeConnection) -> Stack:
        settings = Settings(
            bus=BusSettings(backend="kafka", kafka=kafka_settings, topics=topics),
            storage=StorageSettings(root=tmp_path / "artifacts"),
            worker=WorkerSettings(retry=FAST_RETRY, group=f"worker-{uuid.uuid4().hex[:8]}"),
            state_dir=tmp_path / "state",
            threeshape=list(connections),
        )
        stacks.append(Stack(settings, kafka_bus, shared))
        return stacks[-1]

    yield build
    for built in stacks:
        await built.close()
    await opened.__aexit__(None, None, None)


@pytest.fixture
async def server(dental_desktop: ServerFactory) -> AsyncIterator[Server]:
    async with dental_desktop() as started:
        yield started


@pytest.fixture
def stack(server: Server, make_stack: Callable[..., Stack]) -> Stack:
    """One connection to `server` (set up first, so its pollers close before the server stops)."""
    return make_stack(server.connection("clinic-1"))


@asynccontextmanager
async def running_worker(stack: Stack) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(stack.settings, stack.bus, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def eventually(condition: Callable[[], bool], rounds: int = 1500) -> None:
    """Let other tasks run until `condition()` holds (a bound against hangs, not a timing assertion)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")
