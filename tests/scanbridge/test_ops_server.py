"""`scanbridge worker` serves /healthz, /readyz and /metrics on `ops.port`: not ready while it waits for
Kafka, ready once Kafka answers, metrics in the Prometheus text format."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from scanbridge.runtime import run
from schemas.kafkaconfig import KafkaSettings
from schemas.settings import BusSettings, OpsSettings, Settings, StorageSettings, WorkerSettings
from schemas.topics import Topics
from tests.tcpgate import TcpGate, free_port


async def test_the_worker_is_not_ready_while_it_waits_for_kafka_then_ready(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    gate = TcpGate(kafka_settings.bootstrap)
    port = free_port()
    settings = Settings(
        bus=BusSettings(backend="kafka", topics=topics,
                        kafka=kafka_settings.model_copy(update={"bootstrap": gate.address})),
        ops=OpsSettings(port=port), storage=StorageSettings(root=tmp_path / "artifacts"),
        worker=WorkerSettings(group=f"g-{port}"), state_dir=tmp_path / "state",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, receiver=False, worker=True, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async def answer(path: str) -> httpx.Response | None:
                assert not task.done(), task.result()
                try:
                    return await client.get(path)
                except httpx.TransportError:
                    return None

            async def until(path: str, status: int) -> httpx.Response:
                for _ in range(3000):
                    got = await answer(path)
                    if got is not None and got.status_code == status:
                        return got
                    await asyncio.sleep(0.02)
                raise AssertionError(f"{path} never answered {status}")

            assert (await until("/healthz", 200)).json() == {"status": "ok"}
            waiting = await until("/readyz", 503)
            assert waiting.json() == {"status": "waiting for the bus"}
            await gate.open()
            assert (await until("/readyz", 200)).json() == {"status": "ready"}
            scraped = await until("/metrics", 200)
            names = {family.name for family in text_string_to_metric_families(scraped.text)}
            assert "scanbridge_worker_events" in names
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await gate.close()
