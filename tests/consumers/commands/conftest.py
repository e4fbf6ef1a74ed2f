"""The executor over the Medit Link simulator, on both bus backends: a lab connection (`lab-1`) and a clinic
connection (`clinic-1`), both connected, the receiver for the upload callback, and helpers to send a command
and wait for its result."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.base import Bus
from bus.factory import make_bus
from consumers.artifacts.factory import make_store
from consumers.clock import RealClock
from consumers.commands.executor import Executor
from consumers.context import Shared, WorkContext
from consumers.http import new_client
from consumers.meditlink.oauth import connect_with_password
from consumers.publish import Publisher
from scanbridge import vendors
from scanbridge.plugin import actions_of, vendor_names
from scanbridge.receiving import create_app as create_receiver
from schemas.commands.base import CommandData
from schemas.commands.settings import CommandSettings
from schemas.envelope import Envelope
from schemas.settings import (
    BusSettings,
    KafkaSettings,
    MeditConnection,
    ReceiverSettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import Topics
from simulators.meditlink import CLIENT_ID, CLIENT_SECRET, CLINIC_EMAIL, LAB_EMAIL, PASSWORD, MeditSimState
from simulators.meditlink import create_app as create_sim
from state.commandlog import CommandLog
from tests.events import collect
from tests.meditlink.conftest import FAST_RETRY
from tests.servers import serve
from tests.shared import shared_state

RESULT_TYPES = ("command.succeeded", "command.failed")


@dataclass
class CommandStack:
    settings: Settings
    sim: MeditSimState
    bus: Bus
    shared: Shared
    ctx: WorkContext
    receiver_url: str

    @property
    def topics(self) -> Topics:
        return self.settings.bus.topics

    @property
    def log(self) -> CommandLog:
        return CommandLog(self.shared.state)

    def executor(self) -> Executor:
        return Executor(self.bus, actions_of(vendors.VENDORS), vendor_names(vendors.VENDORS), self.ctx)

    async def send(self, command: CommandData, *, topic: str | None = None) -> Envelope:
        event = Envelope(id=str(uuid.uuid4()), source="tests/commands", type=command.command_type(),
                         subject=command.subject(), partitionkey=command.partition_key(),
                         data=command.model_dump(mode="json"))
        await self.bus.publish(topic or self.topics.commands, event)
        return event

    async def send_raw(self, event_type: str, data: dict[str, Any], key: str = "k") -> Envelope:
        event = Envelope(id=str(uuid.uuid4()), source="tests/commands", type=event_type, partitionkey=key,
                         data=data)
        await self.bus.publish(self.topics.commands, event)
        return event

    async def results(self, command_id: str, count: int = 1) -> list[Envelope]:
        """The result events of `command_id` once there are `count` of them."""
        def mine(events: list[Envelope]) -> list[Envelope]:
            return [e for e in events
                    if e.type in RESULT_TYPES and e.json_data().get("command_id") == command_id]
        events = await collect(self.bus, [self.topics.events], lambda got: len(mine(got)) >= count)
        return mine(events)

    async def result(self, command_id: str) -> dict[str, Any]:
        return (await self.results(command_id))[0].json_data()

    async def dead_letters(self, count: int = 1) -> list[Envelope]:
        return await collect(self.bus, [self.topics.deadletter], lambda got: len(got) >= count)

    def requests(self, path: str, method: str) -> int:
        return sum(1 for r in self.sim.requests if r.method == method and path in r.path)


def medit(connection_id: str, sim_url: str, token: str) -> MeditConnection:
    return MeditConnection(id=connection_id, webhook=WebhookAuth(token=token), auth_url=sim_url,
                           api_url=sim_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture(params=["local", "kafka"])
def bus_settings(request: pytest.FixtureRequest, topics: Topics, tmp_path: Path) -> BusSettings:
    if request.param == "kafka":
        kafka: KafkaSettings = request.getfixturevalue("kafka_settings")
        return BusSettings(backend="kafka", kafka=kafka, topics=topics)
    return BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3", topics=topics)


@pytest.fixture
def command_settings() -> CommandSettings:
    return CommandSettings(reconcile_after_s=0)  # a test's "crashed" executor is known to be gone


@pytest.fixture
def sim() -> MeditSimState:
    return MeditSimState(auto_process_uploads=True)


@pytest.fixture
async def stack(tmp_path: Path, bus_settings: BusSettings, sim: MeditSimState,
                command_settings: CommandSettings) -> AsyncIterator[CommandStack]:
    bus = make_bus(bus_settings)
    await bus.ensure_topics(bus_settings.topics.all() + [p.topic for p in command_settings.producers])
    await bus.start()
    lab_token, clinic_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    try:
        async with serve(create_sim(sim)) as sim_url:
            settings = Settings(
                bus=bus_settings, storage=StorageSettings(root=tmp_path / "artifacts"),
                worker=WorkerSettings(retry=FAST_RETRY), receiver=ReceiverSettings(),
                state_dir=tmp_path / "state",
                commands=command_settings,
                meditlink=[medit("lab-1", sim_url, lab_token), medit("clinic-1", sim_url, clinic_token)],
            )
            async with serve(create_receiver(settings, bus, manage_bus=False)) as receiver_url, \
                    shared_state(settings) as shared, new_client(10.0) as http:
                settings.receiver.public_url = receiver_url
                await connect_with_password(shared.state, settings.meditlink[0], LAB_EMAIL, PASSWORD)
                await connect_with_password(shared.state, settings.meditlink[1], CLINIC_EMAIL, PASSWORD)
                publisher = Publisher(bus, settings.bus.topics, settings.events)
                store = make_store(settings.storage, policy=settings.worker.retry, clock=RealClock())
                await store.start()
                ctx = WorkContext(settings=settings, publisher=publisher, store=store, clock=RealClock(),
                                  http=http, shared=shared)
                try:
                    yield CommandStack(settings, sim, bus, shared, ctx, receiver_url)
                finally:
                    await store.close()
    finally:
        await bus.close()


@pytest.fixture
async def executor(stack: CommandStack) -> AsyncIterator[Executor]:
    running = stack.executor()
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    yield running
    stop.set()
    await asyncio.wait_for(task, 30)
