"""iTero with `privacy.patient_fields = "drop"`: no value of the simulator's patient — names, chart number,
birth date, patient id, the doctor's notes — reaches any event, dead letter, log line or metric
(issue 10, item 1; itero-dpms-api.txt Get Order by RX ID)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.deadletter import DEAD_LETTERED
from bus.kafka import KafkaBus
from consumers.clock import ManualClock
from consumers.http import new_client
from consumers.itero.poller import IteroPoller
from scanbridge.receiving import create_app as create_receiver
from scanbridge.runtime import run_worker
from schemas.settings import KafkaSettings
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED, Topics
from simulators.itero.app import create_app as create_sim
from simulators.itero.notify import post_notification
from simulators.itero.state import IteroSimState
from tests.events import collect, of_type
from tests.itero.conftest import Stack, make_settings
from tests.security.phi import DROP, every_event, leaks, metrics_of, service_logs
from tests.servers import serve
from tests.shared import shared_state

PATIENT = {"patient_first": "Zeldaqx", "patient_last": "Quixotewyn", "patient_chart": "CHZQ-90817",
           "notes": "Zeldaqx has a latex allergy",
           "extra": {"DateOfBirth": "1911-02-03", "Gender": "Female", "PatientId": 7788123,
                     "Patient": {"Email": "zeldaqx@example.org"}}}
VALUES = ["Zeldaqx", "Quixotewyn", "CHZQ-90817", "latex allergy", "1911-02-03", "7788123"]


@pytest.fixture
async def stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics,
                kafka_bus: KafkaBus) -> AsyncIterator[Stack]:
    sim = IteroSimState(workdir=tmp_path / "sim")
    token = secrets.token_urlsafe(32)
    async with serve(create_sim(sim)) as sim_url:
        settings = make_settings(tmp_path, kafka_settings, topics, sim_url, sim, token)
        settings = settings.model_copy(update={"privacy": DROP})
        async with serve(create_receiver(settings, kafka_bus, manage_bus=False)) as receiver_url:
            yield Stack(settings, sim, sim_url, receiver_url, kafka_bus, token)


async def test_with_drop_no_itero_patient_value_reaches_events_dead_letters_logs_or_metrics(
        stack: Stack) -> None:
    fetched = stack.sim.add_order(size=30_000, **PATIENT)
    refused = stack.sim.add_order(size=30_000, **PATIENT)
    stack.sim.fail_next(f"orders/{refused.rx_id}", 400, count=100)  # a permanent refusal: a dead letter
    with service_logs() as log:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(stack.settings, stack.bus, stop))
        try:
            for order in (fetched, refused):
                response = await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
                assert response.status_code == 202
            async with new_client(10.0) as http, shared_state(stack.settings) as shared:
                await IteroPoller(stack.settings, stack.settings.itero[0], stack.bus, http,
                                  clock=ManualClock(), shared=shared).poll_once()
            await collect(stack.bus, [stack.topics.artifacts, stack.topics.deadletter], lambda ev: len(
                of_type(ev, ARTIFACT_STORED)) >= 2 and len(of_type(ev, DEAD_LETTERED)) >= 1)
            events = await every_event(stack.bus, stack.topics)
            metrics = await metrics_of(stack.receiver_url)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
    updated = of_type(events, ORDER_UPDATED)
    assert updated and all(e.json_data()["patient"] is None for e in updated)  # the order did go out
    assert leaks(VALUES, events=events, log_text=log.getvalue(), metrics=metrics) == []
