"""Publish: events per second of `Bus.publish` against the raw client underneath, same settings.

    python -m bench.publish CONFIG {bus|raw} CONCURRENCY SECONDS     (prints one JSON line)

`bus` awaits `publish` of the configured backend (KafkaBus or LocalBus) with CONCURRENCY tasks;
`raw` sends the same pre-encoded records with the client the backend is built on: an aiokafka
producer configured as KafkaBus configures its own, or sqlite3 in WAL mode with synchronous=FULL
and one transaction per record on one thread, as LocalBus writes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import percentile
from bench.stack import StackConfig
from bus.codec import encode
from bus.factory import make_bus
from schemas import ids
from schemas.envelope import Envelope, utcnow
from schemas.events import ScanNotified
from schemas.settings import KafkaSettings
from schemas.topics import SCAN_NOTIFIED

POOL = 256
WARMUP = 50
MAX_EVENTS = 500_000  # a bound on top of the time bound

Send = Callable[[int], Awaitable[None]]


def envelopes(count: int) -> list[Envelope]:
    """`scan.notified` events as the receiver builds them."""
    out = []
    for _ in range(count):
        rx = str(uuid.uuid4())
        data = ScanNotified(vendor="itero", account="4242", connection="bench-clinic", rx_id=rx,
                            learned_by="webhook", received_at=utcnow(), inbound_id=str(uuid.uuid4()))
        out.append(Envelope(id=ids.event_id(SCAN_NOTIFIED, "itero", "4242", rx, data.inbound_id or ""),
                            source=ids.source("itero", "4242"), type=SCAN_NOTIFIED, subject=rx,
                            time=data.received_at, partitionkey=ids.partition_key("itero", "4242", rx),
                            data=data.model_dump(mode="json")))
    return out


def raw_kafka_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """The producer exactly as bus/kafka.py builds it."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap, client_id=settings.client_id, enable_idempotence=True,
        acks="all", compression_type=settings.compression, linger_ms=settings.linger_ms,
        request_timeout_ms=int(settings.ack_timeout_s * 1000),
    )


class RawSqlite:
    """One connection on one thread, WAL, synchronous=FULL, one transaction per record."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(1)
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def _insert(self, topic: str, key: bytes, value: bytes, headers: str) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, topic TEXT, "
                               "ts_ms INTEGER, key BLOB, value BLOB, headers TEXT)")
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("INSERT INTO records (topic, ts_ms, key, value, headers) VALUES (?, ?, ?, ?, ?)",
                           (topic, int(time.time() * 1000), key, value, headers))
        self._conn.execute("COMMIT")

    async def insert(self, topic: str, key: bytes, value: bytes, headers: str) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._insert, topic, key, value, headers)


async def drive(send: Send, concurrency: int, seconds: float) -> dict[str, Any]:
    """CONCURRENCY tasks call `send(i)` back to back until the time or count bound."""
    for i in range(WARMUP):
        await send(i)
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    counter = iter(range(MAX_EVENTS))

    async def loop() -> None:
        for i in counter:
            began = time.perf_counter()
            if began >= deadline:
                return
            await send(i)
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"events": len(latencies), "eps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000}


async def measure(config: StackConfig, mode: str, concurrency: int, seconds: float) -> dict[str, Any]:
    settings = config.settings()
    topic = settings.bus.topics.events
    pool = envelopes(POOL)
    bus = make_bus(settings.bus)
    await bus.ensure_topics(settings.bus.topics.all())
    if mode == "bus":
        await bus.start()
        try:
            return await drive(lambda i: bus.publish(topic, pool[i % POOL]), concurrency, seconds)
        finally:
            await bus.close()
    await bus.close()
    records = [encode(e) for e in pool]
    if config.backend == "kafka":
        producer = raw_kafka_producer(settings.bus.kafka)
        await producer.start()

        async def send(i: int) -> None:
            key, value, headers = records[i % POOL]
            await (await producer.send(topic, value=value, key=key, headers=headers))

        try:
            return await drive(send, concurrency, seconds)
        finally:
            await producer.stop()
    raw = RawSqlite(Path(config.workdir) / "raw.sqlite3")
    rows = [(k, v, json.dumps([[n, d.hex()] for n, d in h])) for k, v, h in records]

    async def insert(i: int) -> None:
        key, value, headers = rows[i % POOL]
        await raw.insert(topic, key, value, headers)

    return await drive(insert, concurrency, seconds)


def main(argv: list[str]) -> None:
    config = StackConfig.load(Path(argv[0]))
    result = asyncio.run(measure(config, argv[1], int(argv[2]), float(argv[3])))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
