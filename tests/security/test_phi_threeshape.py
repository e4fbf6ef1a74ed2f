"""3Shape with `privacy.patient_fields = "drop"`: no value of the simulator's patient — PatientName, the
integration id (any PMS patient value, e.g. an SSN), an attached image named after the patient —
reaches any event, dead letter, log line or metric; a refused watch command is dead-lettered without
its integration ids (issue 10, item 1; 3shape-dental-desktop-pms-integration.txt "/GetCasesForPatient",
"Concept of patient mapping")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.deadletter import DEAD_LETTERED
from bus.kafka import KafkaBus
from consumers.threeshape.commands import WatchCommands, watch_command
from scanbridge.receiving import create_app as create_receiver
from schemas.settings import BusSettings, KafkaSettings, Settings, StorageSettings, WorkerSettings
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED, Topics
from tests.events import collect, of_type
from tests.security.phi import DROP, every_event, leaks, metrics_of, service_logs
from tests.servers import serve
from tests.shared import shared_state
from tests.threeshape.conftest import FAST_RETRY, Server, Stack, dental_desktop, running_worker, server  # noqa: F401 - fixtures used by name

INTEGRATION_ID = "PMS-ZQ-55817"
NAME = "Zeldaqx Quixotewyn"
VALUES = ["Zeldaqx", "Quixotewyn", INTEGRATION_ID]


@pytest.fixture
async def stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics, kafka_bus: KafkaBus,
                server: Server) -> AsyncIterator[Stack]:  # noqa: F811 - the imported fixture
    settings = Settings(
        bus=BusSettings(backend="kafka", kafka=kafka_settings, topics=topics),
        storage=StorageSettings(root=tmp_path / "artifacts"),
        worker=WorkerSettings(retry=FAST_RETRY, group=f"worker-{uuid.uuid4().hex[:8]}"),
        state_dir=tmp_path / "state", privacy=DROP,
        threeshape=[server.connection("clinic-1", patients=[INTEGRATION_ID])],
    )
    async with shared_state(settings) as shared:
        built = Stack(settings, kafka_bus, shared)
        yield built
        await built.close()


async def test_with_drop_no_3shape_patient_value_reaches_events_dead_letters_logs_or_metrics(
        stack: Stack, server: Server) -> None:  # noqa: F811 - the imported fixture
    case = server.state.create_case(INTEGRATION_ID, NAME)
    server.state.attach_image(case.case_id, name=f"{NAME} 2026-11-14.jpeg")
    poller = stack.poller()
    listener = WatchCommands(stack.bus, stack.shared, poller.privacy, commands_topic=stack.topics.commands,
                             deadletter_topic=stack.topics.deadletter, group="test-commands")
    with service_logs() as log:
        stop = asyncio.Event()
        listening = asyncio.create_task(listener.run(stop))
        try:
            async with serve(create_receiver(stack.settings, stack.bus, manage_bus=False)) as receiver_url, \
                    running_worker(stack):
                assert (await poller.poll_once()).images == 1
                # a practice-management system asks for a connection this host does not serve: refused
                await stack.bus.publish(stack.topics.commands,
                                        watch_command("elsewhere", "watch", [INTEGRATION_ID]))
                await collect(stack.bus, [stack.topics.artifacts, stack.topics.deadletter], lambda ev: len(
                    of_type(ev, ARTIFACT_STORED)) >= 1 and len(of_type(ev, DEAD_LETTERED)) >= 1)
                everything = await every_event(stack.bus, stack.topics)
                metrics = await metrics_of(receiver_url)
        finally:
            stop.set()
            await asyncio.wait_for(listening, 30)
    # The commands topic is the practice-management system's own; everything else is ours.
    events = [e for e in everything if e.type != "command.watch_patients"]
    updated, = of_type(events, ORDER_UPDATED)
    assert updated.json_data()["patient"] is None and updated.json_data()["artifacts"][0]["name"] is None
    assert leaks(VALUES, events=events, log_text=log.getvalue(), metrics=metrics) == []
