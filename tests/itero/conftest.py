"""A running iTero simulator, receiver, worker and poller on one real Kafka broker, per test.

Parametrize `connection_options` (IteroConnection fields) or `poller_settings` to vary the stack."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.kafka import KafkaBus
from consumers.clock import ManualClock
from consumers.context import Shared
from consumers.http import new_client
from consumers.itero.poller import IteroPoller
from scanbridge.receiving import create_app as create_receiver
from scanbridge.runtime import run_worker
from schemas.settings import (
    BusSettings,
    IteroConnection,
    KafkaSettings,
    PollerSettings,
    RetrySettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import Topics
from simulators.itero.app import create_app as create_sim
from simulators.itero.state import IteroSimState
from tests.servers import serve
from tests.shared import shared_state

FAST_RETRY = RetrySettings(initial_delay_s=0.05, max_delay_s=0.3, not_ready_for_s=20.0,
                           server_error_for_s=10.0, request_timeout_s=10.0)


@dataclass
class Stack:
    settings: Settings
    sim: IteroSimState
    sim_url: str
    receiver_url: str
    bus: KafkaBus
    token: str

    @property
    def hook(self) -> str:
        return f"{self.receiver_url}/hooks/{self.settings.itero[0].vendor}/{self.token}"

    @property
    def topics(self) -> Topics:
        return self.settings.bus.topics


def make_settings(tmp_path: Path, kafka: KafkaSettings, topics: Topics, sim_url: str, sim: IteroSimState,
                  token: str, poller: PollerSettings | None = None, **connection: Any) -> Settings:
    access, refresh = sim.issue_tokens()
    conn = IteroConnection(
        id="clinic-1", company_id=str(sim.company_id), webhook=WebhookAuth(token=token),
        base_url=sim_url, token_url=f"{sim_url}/oauth/token", access_token=access,
        refresh_token=refresh, **connection,
    )
    return Settings(
        bus=BusSettings(backend="kafka", kafka=kafka, topics=topics),
        storage=StorageSettings(root=tmp_path / "artifacts"),
        worker=WorkerSettings(retry=FAST_RETRY, group=f"worker-{uuid.uuid4().hex[:8]}"),
        state_dir=tmp_path / "state",
        itero=[conn],
        poller=poller or PollerSettings(),
    )


@pytest.fixture
def sim(tmp_path: Path) -> IteroSimState:
    return IteroSimState(workdir=tmp_path / "sim")


@pytest.fixture
def connection_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def poller_settings() -> PollerSettings:
    return PollerSettings()


@pytest.fixture
async def stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics, sim: IteroSimState,
                kafka_bus: KafkaBus, connection_options: dict[str, Any],
                poller_settings: PollerSettings) -> AsyncIterator[Stack]:
    token = secrets.token_urlsafe(32)
    async with serve(create_sim(sim)) as sim_url:
        options = {k: (v.format(sim=sim_url) if isinstance(v, str) else v)
                   for k, v in connection_options.items()}
        settings = make_settings(tmp_path, kafka_settings, topics, sim_url, sim, token, poller_settings,
                                 **options)
        async with serve(create_receiver(settings, kafka_bus, manage_bus=False)) as receiver_url:
            yield Stack(settings, sim, sim_url, receiver_url, kafka_bus, token)


@pytest.fixture
async def worker(stack: Stack) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(stack.settings, stack.bus, stop))
    yield stop
    stop.set()
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def shared(stack: Stack) -> AsyncIterator[Shared]:
    """The state store of the stack as a poller process would open it."""
    async with shared_state(stack.settings) as opened:
        yield opened


@pytest.fixture
async def poller(stack: Stack, shared: Shared) -> AsyncIterator[IteroPoller]:
    """The stack's connection poller; tests call `poll_once()` (time is a ManualClock, never slept on)."""
    async with new_client(10.0) as http:
        yield IteroPoller(stack.settings, stack.settings.itero[0], stack.bus, http, clock=ManualClock(),
                          shared=shared)


async def eventually(condition: Callable[[], bool | Awaitable[bool]], rounds: int = 1500) -> None:
    """Let other tasks run until `condition()` holds (a bound against hangs, not a timing assertion)."""
    for _ in range(rounds):
        held = condition()
        if held if isinstance(held, bool) else await held:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")
