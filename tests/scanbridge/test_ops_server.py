"""Every process serves /metrics (Prometheus text format, parsed here), /healthz and /readyz: the
receiver on its port; `scanbridge worker` and `scanbridge poller` on `ops.port` — not ready while they
wait for Kafka, ready once it answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from scanbridge.runtime import run
from schemas.kafkaconfig import KafkaSettings
from schemas.settings import (
    BusSettings,
    OpsSettings,
    ReceiverSettings,
    Settings,
    StateSettings,
    StorageSettings,
    WorkerSettings,
)
from schemas.topics import Topics
from tests.tcpgate import TcpGate, free_port

WORKER_METRICS = {"scanbridge_worker_events", "scanbridge_orders_in_flight", "scanbridge_retries",
                  "scanbridge_dead_letters", "scanbridge_consumer_lag", "scanbridge_download_bytes",
                  "scanbridge_download_seconds", "scanbridge_token_refreshes", "scanbridge_publish_seconds"}
POLLER_METRICS = {"scanbridge_polls", "scanbridge_poll_last_success_timestamp_seconds",
                  "scanbridge_token_refreshes", "scanbridge_publish_seconds", "scanbridge_poll_errors",
                  "scanbridge_poller_leases", "scanbridge_poller_leases_held"}
RECEIVER_METRICS = {"scanbridge_webhooks", "scanbridge_webhook_seconds", "scanbridge_publish_seconds",
                    "scanbridge_spool_events", "scanbridge_spool_oldest_age_seconds"}


@asynccontextmanager
async def process(settings: Settings, port: int, **which: bool) -> AsyncIterator[httpx.AsyncClient]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop, **which))  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def until(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    for _ in range(3000):
        try:
            got = await client.get(path)
            if got.status_code == status:
                return got
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never answered {status}")


def families(scraped: httpx.Response) -> set[str]:
    assert scraped.headers["content-type"].startswith("text/plain")
    return {family.name for family in text_string_to_metric_families(scraped.text)}


def _settings(tmp_path: Path, kafka: KafkaSettings, topics: Topics, port: int) -> Settings:
    return Settings(
        bus=BusSettings(backend="kafka", topics=topics, kafka=kafka, spool_path=tmp_path / "spool.db"),
        ops=OpsSettings(port=port), receiver=ReceiverSettings(port=port),
        storage=StorageSettings(root=tmp_path / "artifacts"), worker=WorkerSettings(group=f"g-{port}"),
        state_dir=tmp_path / "state",
    )


async def test_the_worker_is_not_ready_while_it_waits_for_kafka_then_ready_and_serves_its_metrics(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    gate = TcpGate(kafka_settings.bootstrap)
    port = free_port()
    behind_gate = kafka_settings.model_copy(update={"bootstrap": gate.address})
    settings = _settings(tmp_path, behind_gate, topics, port)
    try:
        async with process(settings, port, receiver=False, worker=True) as client:
            assert (await until(client, "/healthz", 200)).json() == {"status": "ok"}
            assert (await until(client, "/readyz", 503)).json() == {"status": "waiting for the bus"}
            await gate.open()
            assert (await until(client, "/readyz", 200)).json() == {"status": "ready"}
            assert WORKER_METRICS <= families(await until(client, "/metrics", 200))
    finally:
        await gate.close()


async def test_the_poller_process_serves_health_and_its_metrics(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    port = free_port()
    async with process(_settings(tmp_path, kafka_settings, topics, port), port,
                       receiver=False, worker=False, poller=True) as client:
        assert (await until(client, "/readyz", 200)).json() == {"status": "ready"}
        assert POLLER_METRICS <= families(await until(client, "/metrics", 200))


async def test_the_receiver_serves_health_and_its_metrics(
    tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics
) -> None:
    port = free_port()
    async with process(_settings(tmp_path, kafka_settings, topics, port), port,
                       receiver=True, worker=False) as client:
        assert (await until(client, "/readyz", 200)).json() == {"status": "ready"}
        await client.post("/hooks/itero/not-a-configured-token", json={})  # 404, counted
        scraped = await until(client, "/metrics", 200)
        assert RECEIVER_METRICS <= families(scraped)
        assert 'scanbridge_webhooks_total{status="404",vendor="itero"}' in scraped.text
        assert "not-a-configured-token" not in scraped.text


async def test_pollers_that_cannot_reach_the_state_store_say_so_on_readyz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poller process: 503 naming the store; `scanbridge run`: its receiver still takes webhooks, so
    200 "degraded" with the same problem."""
    monkeypatch.setenv("SCANBRIDGE_CREDENTIALS_KEYS", Fernet.generate_key().decode())
    nobody = SecretStr(f"postgresql://scanbridge:x@127.0.0.1:{free_port()}/scanbridge")  # nothing listens
    port = free_port()
    settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                        ops=OpsSettings(port=port), receiver=ReceiverSettings(port=port),
                        state=StateSettings(backend="postgres", dsn=nobody, timeout_s=0.5),
                        storage=StorageSettings(root=tmp_path / "artifacts"), state_dir=tmp_path / "state")
    async with process(settings, port, receiver=False, worker=False, poller=True) as client:
        answer = (await until(client, "/readyz", 503)).json()
        while answer["status"] != "not ready":  # first "waiting for the bus", briefly
            await asyncio.sleep(0.05)
            answer = (await client.get("/readyz")).json()
        assert "state store unreachable" in answer["problems"][0]
    async with process(settings, port, receiver=True, worker=False, poller=True) as client:
        answer = (await until(client, "/readyz", 200)).json()
        while not answer.get("problems"):
            await asyncio.sleep(0.05)
            answer = (await client.get("/readyz")).json()
        assert answer["status"].startswith("degraded") and "state store unreachable" in answer["problems"][0]
