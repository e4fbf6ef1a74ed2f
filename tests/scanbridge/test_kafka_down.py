"""`scanbridge run` with Kafka down at start: the receiver spools and answers 202, /readyz says
"degraded: spooling", the worker waits; once Kafka answers the event is delivered and worked on."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import httpx
import pytest

from bus.kafka import KafkaBus
from scanbridge.runtime import run
from schemas.kafkaconfig import KafkaSettings
from schemas.settings import BusSettings, ReceiverSettings, Settings
from schemas.topics import ORDER_UPDATED, SCAN_NOTIFIED, Topics
from simulators.itero.app import create_app as create_sim
from simulators.itero.notify import post_notification
from simulators.itero.state import IteroSimState
from tests.events import collect, of_type
from tests.itero.conftest import make_settings
from tests.servers import serve
from tests.tcpgate import TcpGate, free_port


async def _until(check: object, rounds: int = 1500) -> None:
    for _ in range(rounds):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def test_run_with_kafka_down_answers_202_from_the_spool_and_delivers_once_kafka_is_up(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    gate = TcpGate(kafka_settings.bootstrap)  # closed: nothing answers at the bootstrap address
    sim = IteroSimState(workdir=tmp_path / "sim")
    token = secrets.token_urlsafe(32)
    stop = asyncio.Event()
    async with serve(create_sim(sim)) as sim_url:
        base = make_settings(tmp_path, kafka_settings, topics, sim_url, sim, token)
        down = kafka_settings.model_copy(update={"bootstrap": gate.address, "ack_timeout_s": 2.0})
        port = free_port()
        settings: Settings = base.model_copy(update={
            "bus": BusSettings(backend="kafka", kafka=down, topics=topics, spool_path=tmp_path / "spool.db"),
            "receiver": ReceiverSettings(port=port, public_url=f"http://127.0.0.1:{port}"),
        })
        receiver = f"http://127.0.0.1:{port}"
        task = asyncio.create_task(run(settings, receiver=True, worker=True, stop=stop))
        try:
            async with httpx.AsyncClient(base_url=receiver) as client:
                async def serving() -> bool:
                    assert not task.done(), task.result()
                    try:
                        return (await client.get("/healthz")).status_code == 200
                    except httpx.TransportError:
                        return False

                with caplog.at_level(logging.WARNING):
                    await _until(serving)
                    ready = await client.get("/readyz")
                    assert (ready.status_code, ready.json()) == (200, {"status": "degraded: spooling"})

                    order = sim.add_order(size=20_000)
                    answer = await post_notification(f"{receiver}/hooks/itero/{token}", order.rx_id,
                                                     sim.company_id)
                    assert answer.status_code == 202, answer.text
                assert any("waiting for it" in r.getMessage() for r in caplog.records), "the worker waits"
                assert not task.done()

                await gate.open()  # Kafka is up
                real = KafkaBus(kafka_settings)
                events = await collect(real, [topics.events],
                                       lambda ev: len(of_type(ev, ORDER_UPDATED)) >= 1, timeout=90)
                notified, = of_type(events, SCAN_NOTIFIED)
                assert notified.data["rx_id"] == order.rx_id

                async def drained() -> bool:
                    return (await client.get("/readyz")).json() == {"status": "ready"}

                await _until(drained)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
            await gate.close()
