"""`order.completed`: one event per order version after its last artifact settled, listing each artifact's
outcome, also when one failed; end to end (simulator → receiver → bus → worker) on both bus backends."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.base import Bus
from bus.kafka import KafkaBus
from bus.local import LocalBus
from scanbridge.receiving import create_app as create_receiver
from scanbridge.runtime import run_worker
from schemas.settings import BusSettings, KafkaSettings
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED, DEAD_LETTER_CREATED, ORDER_COMPLETED, Topics
from simulators.itero.app import create_app as create_sim
from simulators.itero.notify import post_notification
from simulators.itero.state import IteroSimState
from tests.events import collect, of_type, settle
from tests.itero.conftest import Stack, make_settings
from tests.servers import serve


@pytest.fixture(params=["local", "kafka"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path, topics: Topics,
                sim: IteroSimState) -> AsyncIterator[Stack]:
    """The iTero stack on the embedded bus or on Kafka, with a running worker."""
    bus: Bus
    token = secrets.token_urlsafe(32)
    async with serve(create_sim(sim)) as sim_url:
        if request.param == "kafka":
            kafka = KafkaSettings(bootstrap=request.getfixturevalue("kafka_bootstrap"), partitions=3,
                                  ack_timeout_s=10.0, linger_ms=0)
            settings = make_settings(tmp_path, kafka, topics, sim_url, sim, token)
            bus = KafkaBus(kafka)
        else:
            settings = make_settings(tmp_path, KafkaSettings(), topics, sim_url, sim, token)
            settings = settings.model_copy(update={"bus": BusSettings(
                backend="local", local_path=tmp_path / "bus.sqlite3", topics=topics)})
            bus = LocalBus(settings.bus.local_path)
        await bus.ensure_topics(topics.all())
        await bus.start()
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, bus, stop))
        try:
            async with serve(create_receiver(settings, bus, manage_bus=False)) as receiver_url:
                yield Stack(settings, sim, sim_url, receiver_url, bus, token)  # type: ignore[arg-type]
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
            await bus.close()


def _completed(events: list) -> list:
    return of_type(events, ORDER_COMPLETED)


async def test_order_completed_follows_the_last_stored_artifact_and_lists_them(stack: Stack) -> None:
    order = stack.sim.add_order(size=30_000)
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: bool(_completed(ev)))
    stored = of_type(events, ARTIFACT_STORED)
    completed, = _completed(events)
    assert events[-1] is completed  # same key, same topic: read after every artifact of the version
    assert completed.partitionkey == stored[0].partitionkey == f"itero:{stack.sim.company_id}:{order.rx_id}"
    data = completed.json_data()
    assert (data["stored"], data["failed"]) == (2, 0)
    assert data["order"]["order_id"] == stored[0].json_data()["order"]["order_id"]
    assert data["order"]["version"] == stored[0].json_data()["order"]["version"]
    listed = {(a["kind"], a["artifact_id"], a["sha256"], a["size"], a["outcome"]) for a in data["artifacts"]}
    announced = {(s["kind"], s["artifact_id"], s["sha256"], s["size"], "stored")
                 for s in (e.json_data() for e in stored)}
    assert listed == announced and len(listed) == 2
    assert completed.dataschema == "urn:scanbridge:schema:order.completed:v1"


async def test_order_completed_lists_a_failed_artifact_and_comes_once(stack: Stack) -> None:
    order = stack.sim.add_order(size=30_000)
    stack.sim.fail_next("/download/IMAGE_GALLERY", 400, count=1000)  # refused for good: artifact.failed
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: bool(_completed(ev)))
    completed, = _completed(events)
    assert events[-1] is completed
    data = completed.json_data()
    assert (data["stored"], data["failed"]) == (1, 1)
    outcome = {a["vendor_ref"]: a for a in data["artifacts"]}
    assert outcome["IDE"]["outcome"] == "stored" and outcome["IDE"]["sha256"]
    assert outcome["IMAGE_GALLERY"]["outcome"] == "failed" and "400" in outcome["IMAGE_GALLERY"]["reason"]
    failed, = of_type(events, ARTIFACT_FAILED)
    assert failed.json_data()["vendor_ref"] == "IMAGE_GALLERY"
    # The notification is dead-lettered for a retry; the same notification again (still failing)
    # announces no second completion of this version.
    await collect(stack.bus, [stack.topics.deadletter], lambda ev: bool(of_type(ev, DEAD_LETTER_CREATED)))
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(of_type(ev, DEAD_LETTER_CREATED)) >= 2)
    again = await settle(stack.bus, [stack.topics.artifacts], quiet_s=1.0)
    assert len(_completed(again)) == 1
    assert len(of_type(again, ARTIFACT_FAILED)) == 2
