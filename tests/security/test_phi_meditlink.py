"""Medit Link with `privacy.patient_fields = "drop"`: no value of the simulator's patient — name and code,
the case named after the patient, its tags, the order's description, a delivery message, file and
archive member names — reaches any event, dead letter, log line or metric (issue 10, item 1;
meditlink-openapi.txt §3.3.2 Get Case, §3.4.1 Get File, §3.5.2 Get Order)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus.deadletter import DEAD_LETTERED
from bus.kafka import KafkaBus
from consumers.http import new_client
from scanbridge.receiving import create_app as create_receiver
from scanbridge.runtime import run_worker
from schemas.settings import KafkaSettings
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED, ORDER_UPDATED, Topics
from simulators.meditlink import MeditSimState, create_app
from tests.events import collect, of_type
from tests.meditlink.conftest import Stack, make_settings
from tests.security.phi import DROP, every_event, leaks, metrics_of, service_logs
from tests.servers import serve
from tests.shared import shared_state

NAME = "Zeldaqx Quixotewyn"
VALUES = ["Zeldaqx", "Quixotewyn", "PZQ-5531977", "latex allergy"]


class WrongDigests:
    """Answers `GET /v1/files/{uuid}` of the files in `uuids` with wrong item MD5s: the archive fails
    its check, so the failure (artifact.failed, dead letter, log) names a member whose name is the
    patient's."""

    def __init__(self, app: ASGIApp, uuids: set[str]) -> None:
        self.app = app
        self.uuids = uuids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not any(path == f"/v1/files/{u}" for u in self.uuids):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body = json.loads(message["body"])
            for item in body.get("items", []):
                item["hashValue"] = "0" * 32
            data = json.dumps(body).encode()
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, receive, rewrite)


@pytest.fixture
async def stack(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics,
                kafka_bus: KafkaBus) -> AsyncIterator[tuple[Stack, set[str]]]:
    sim = MeditSimState()
    tampered: set[str] = set()
    token = secrets.token_urlsafe(32)
    async with serve(WrongDigests(create_app(sim), tampered)) as sim_url:
        settings = make_settings(tmp_path, kafka_settings, topics, sim_url, token, extract=True)
        settings = settings.model_copy(update={"privacy": DROP})
        async with serve(create_receiver(settings, kafka_bus, manage_bus=False)) as receiver_url, \
                shared_state(settings) as shared:
            settings.receiver.public_url = receiver_url
            yield Stack(settings, sim, sim_url, receiver_url, kafka_bus, token, shared), tampered


def _order(stack: Stack, file_name: str) -> str:
    case = stack.sim.create_case(f"{NAME}'s Case", patient_name=NAME, patient_code="PZQ-5531977",
                                 tags=("Zeldaqx-ortho",), files=[(file_name, 20_000)])
    order = stack.sim.create_order(case.uuid, description="Zeldaqx has a latex allergy")
    order.delivery.append({"status": "READY", "message": f"hand to {NAME} in person"})
    return case.files[0].uuid


async def test_with_drop_no_medit_patient_value_reaches_events_dead_letters_logs_or_metrics(
        stack: tuple[Stack, set[str]]) -> None:
    medit, tampered = stack
    await medit.connect()
    _order(medit, "Zeldaqx_Quixotewyn_upper.meditMesh")
    tampered.add(_order(medit, "Zeldaqx_Quixotewyn_lower.meditMesh"))
    with service_logs() as log:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(medit.settings, medit.bus, stop))
        try:
            async with new_client(10.0) as http:
                assert await medit.poller(http).poll_once() >= 2
            await collect(medit.bus, [medit.topics.artifacts, medit.topics.deadletter], lambda ev: len(
                of_type(ev, ARTIFACT_STORED)) >= 1 and len(of_type(ev, DEAD_LETTERED)) >= 1)
            events = await every_event(medit.bus, medit.topics)
            metrics = await metrics_of(medit.receiver_url)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
    updated = of_type(events, ORDER_UPDATED)
    assert len(updated) == 2 and all(e.json_data()["patient"] is None for e in updated)
    assert of_type(events, ARTIFACT_FAILED)  # the tampered archive was refused, and said why
    assert leaks(VALUES, events=events, log_text=log.getvalue(), metrics=metrics) == []
