"""A Medit Link simulator, the receiver and (on demand) a worker on one real Kafka broker, per test."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.kafka import KafkaBus
from consumers.clock import RealClock
from consumers.context import Shared
from consumers.http import new_client
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import connect_with_password, keeper
from consumers.meditlink.poller import MeditPoller
from scanbridge.receiving import create_app as create_receiver
from scanbridge.runtime import run_worker
from schemas.settings import (
    BusSettings,
    KafkaSettings,
    MeditConnection,
    ReceiverSettings,
    RetrySettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import Topics
from simulators.meditlink import CLIENT_ID, CLIENT_SECRET, LAB_EMAIL, PASSWORD, MeditSimState, create_app
from tests.servers import serve
from tests.shared import shared_state

FAST_RETRY = RetrySettings(initial_delay_s=0.05, max_delay_s=0.3, not_ready_for_s=20.0,
                           server_error_for_s=10.0, request_timeout_s=10.0)


@dataclass
class Stack:
    settings: Settings
    sim: MeditSimState
    sim_url: str
    receiver_url: str
    bus: KafkaBus
    token: str
    shared: Shared

    @property
    def connection(self) -> MeditConnection:
        return self.settings.meditlink[0]

    @property
    def hook(self) -> str:
        return f"{self.receiver_url}/hooks/meditlink/{self.token}"

    @property
    def topics(self) -> Topics:
        return self.settings.bus.topics

    async def connect(self, email: str = LAB_EMAIL) -> None:
        await connect_with_password(self.shared.state, self.connection, email, PASSWORD)

    def poller(self, http: Any) -> MeditPoller:
        client = MeditClient(self.connection, http, keeper(self.shared.keepers, self.connection))
        return MeditPoller(client, self.bus, self.topics, FAST_RETRY, RealClock(), self.shared)

    def requests(self, path: str, method: str = "GET") -> int:
        return sum(1 for r in self.sim.requests if r.method == method and path in r.path)


def make_settings(tmp_path: Path, kafka: KafkaSettings, topics: Topics, sim_url: str, token: str,
                  **connection: Any) -> Settings:
    conn = MeditConnection(id="lab-1", webhook=WebhookAuth(token=token), auth_url=sim_url, api_url=sim_url,
                           client_id=CLIENT_ID, client_secret=CLIENT_SECRET, poll_overlap_s=60.0,
                           **connection)
    return Settings(
        bus=BusSettings(backend="kafka", kafka=kafka, topics=topics),
        storage=StorageSettings(root=tmp_path / "artifacts"),
        worker=WorkerSettings(retry=FAST_RETRY, group="worker-test"),
        receiver=ReceiverSettings(),
        state_dir=tmp_path / "state",
        meditlink=[conn],
    )


@pytest.fixture
def sim() -> MeditSimState:
    return MeditSimState()


@pytest.fixture
def connection_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics, sim: MeditSimState,
                kafka_bus: KafkaBus, connection_options: dict[str, Any]) -> AsyncIterator[Stack]:
    token = secrets.token_urlsafe(32)
    async with serve(create_app(sim)) as sim_url:
        settings = make_settings(tmp_path, kafka_settings, topics, sim_url, token, **connection_options)
        async with serve(create_receiver(settings, kafka_bus, manage_bus=False)) as receiver_url, \
                shared_state(settings) as shared:
            settings.receiver.public_url = receiver_url
            yield Stack(settings, sim, sim_url, receiver_url, kafka_bus, token, shared)


@pytest.fixture
async def http() -> AsyncIterator[Any]:
    async with new_client(10.0) as client:
        yield client


@pytest.fixture
async def worker(stack: Stack) -> AsyncIterator[asyncio.Event]:
    await stack.connect()
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(stack.settings, stack.bus, stop))
    yield stop
    stop.set()
    await asyncio.wait_for(task, 30)
