"""A running iTero simulator, receiver and worker on one real Kafka broker, per test."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bus.kafka import KafkaBus
from schemas.settings import (
    BusSettings,
    IteroConnection,
    KafkaSettings,
    RetrySettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import Topics
from scanbridge.runtime import run_worker
from simulators.itero.app import create_app as create_sim
from simulators.itero.state import IteroSimState
from receiver.app import create_app as create_receiver
from tests.servers import serve

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
        return f"{self.receiver_url}/hooks/itero/{self.token}"

    @property
    def topics(self) -> Topics:
        return self.settings.bus.topics


def make_settings(tmp_path: Path, kafka: KafkaSettings, topics: Topics, sim_url: str, sim: IteroSimState,
                  token: str, **connection: object) -> Settings:
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
    )


@pytest.fixture
def sim(tmp_path: Path) -> IteroSimState:
    return IteroSimState(workdir=tmp_path / "sim")


@pytest.fixture
async def stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics,
                sim: IteroSimState, kafka_bus: KafkaBus) -> AsyncIterator[Stack]:
    token = secrets.token_urlsafe(32)
    async with serve(create_sim(sim)) as sim_url:
        settings = make_settings(tmp_path, kafka_settings, topics, sim_url, sim, token)
        async with serve(create_receiver(settings, kafka_bus, manage_bus=False)) as receiver_url:
            yield Stack(settings, sim, sim_url, receiver_url, kafka_bus, token)


@pytest.fixture
async def worker(stack: Stack) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(stack.settings, stack.bus, stop))
    yield stop
    stop.set()
    await asyncio.wait_for(task, 30)
