"""One worker at a time per order, across workers sharing a state store (consumers/claims.py, issue 12
item 7): a "zombie" still working on an order while another worker got it too (a rebalance) announces
nothing twice; a claim whose holder died is taken over once it lapses; a worker that loses its claim
stops its work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bus.kafka import KafkaBus
from consumers.claims import OrderClaims
from consumers.clock import RealClock
from consumers.context import WorkContext
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.publish import Publisher
from consumers.storage import FolderStore, StoredFile
from consumers.worker import Worker
from schemas import ids
from schemas.events import ArtifactRef, Order, ScanNotified
from schemas.settings import BusSettings, KafkaSettings, RetrySettings, Settings, WorkerSettings
from schemas.topics import ARTIFACT_STORED, ORDER_COMPLETED, ORDER_UPDATED, Topics
from state.errors import StaleLease
from tests.consumers.artifacts.test_store import chunks
from tests.consumers.test_worker import _notified
from tests.events import of_type, read_to_end
from tests.shared import shared_state, state_store

SCAN = b"PK\x03\x04" + bytes(range(256)) * 16


class SlowOrder:
    """A vendor handler on the real pipeline whose one artifact downloads only once `gate` opens."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate
        self.started: list[str] = []

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        self.started.append(ctx.settings.worker.group)
        rx = notified.rx_id or ""
        order = Order(vendor="test", account="1", connection="c", order_id=rx, stage="scanned", version="v1",
                      vendor_record={}, updated_at=datetime.now(UTC))

        async def fetch(relative: str) -> StoredFile | None:
            await self.gate.wait()
            return await ctx.store.write(relative, chunks(SCAN, 1000), 1 << 20)

        job = ArtifactJob(ref=ArtifactRef(kind="scan_3d", vendor_ref="IDE"), file_name="IDE.zip",
                          media_type="application/zip", fetch=fetch)
        await store_artifacts(await announce_order(order, rx, ctx), rx, [job], ctx)

    async def close(self) -> None:
        return None


StartWorker = Callable[[str, SlowOrder], Awaitable[Worker]]


@pytest.fixture
async def start_worker(tmp_path: Path, kafka_settings: KafkaSettings, kafka_bus: KafkaBus,
                       topics: Topics) -> AsyncIterator[StartWorker]:
    """Start a worker "host" in its own consumer group (so each gets every order, as a rebalance hands an
    order to a second worker), with its own artifact folder; all share one state store."""
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient())
        running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

        async def make(group: str, handler: SlowOrder) -> Worker:
            settings = Settings(
                bus=BusSettings(backend="kafka", kafka=kafka_settings, topics=topics),
                worker=WorkerSettings(group=f"{group}-{uuid.uuid4().hex[:8]}", claim_ttl_s=2.0,
                                      retry=RetrySettings(initial_delay_s=0.01, max_delay_s=0.05)),
                state_dir=tmp_path,  # the one state store of every "host"
            )
            shared = await stack.enter_async_context(shared_state(settings))
            ctx = WorkContext(settings=settings, publisher=Publisher(kafka_bus, topics), clock=RealClock(),
                              store=FolderStore(tmp_path / group), http=http, shared=shared)
            worker = Worker(kafka_bus, {"test": handler}, ctx)
            stop = asyncio.Event()
            running.append((stop, asyncio.create_task(worker.run(stop))))
            return worker

        yield make
        for stop, _ in running:
            stop.set()
        for _, task in running:
            await asyncio.wait_for(task, 30)


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(60):
        while not condition():
            await asyncio.sleep(0.05)


async def test_two_workers_handed_one_order_at_once_announce_it_once_the_second_waits_for_the_claim(
    start_worker: StartWorker, kafka_bus: KafkaBus, topics: Topics
) -> None:
    """Before: both passed the marker check while the first was still downloading: two artifact.stored."""
    gate = asyncio.Event()
    handler = SlowOrder(gate)
    a, b = await start_worker("a", handler), await start_worker("b", handler)
    await kafka_bus.publish(topics.events, _notified("rx-zombie"))
    # Both workers got the order: one works on it, the other waits for its claim (before: both worked).
    await _until(lambda: len(handler.started) + a.claims.waited + b.claims.waited >= 2)
    gate.set()
    await _until(lambda: a.counters["handled"] == 1 and b.counters["handled"] == 1)

    events = await read_to_end(kafka_bus, [topics.events, topics.artifacts])
    assert len(of_type(events, ORDER_UPDATED)) == 1
    assert len(of_type(events, ARTIFACT_STORED)) == 1
    assert len(of_type(events, ORDER_COMPLETED)) == 1
    assert a.claims.waited + b.claims.waited == 1 and len(handler.started) == 2  # the second ran after


async def test_an_order_whose_claim_holder_died_is_handled_once_the_claim_lapses(
    start_worker: StartWorker, kafka_bus: KafkaBus, topics: Topics,
    tmp_path: Path,
) -> None:
    gate = asyncio.Event()
    gate.set()
    handler = SlowOrder(gate)
    worker = await start_worker("a", handler)
    key = ids.partition_key("test", "1", "rx-orphan")
    # A worker that died holding the order's claim: never renewed, never released (TTL as the worker's).
    assert await worker._ctx.state.claims.acquire(key, "dead-host/1/x", ttl_s=2.0) is not None
    await kafka_bus.publish(topics.events, _notified("rx-orphan"))
    await _until(lambda: worker.counters["handled"] == 1)
    assert worker.claims.waited == 1 and len(handler.started) == 1
    events = await read_to_end(kafka_bus, [topics.artifacts])
    assert len(of_type(events, ARTIFACT_STORED)) == 1
    assert await worker._ctx.state.claims.holder(key) is None  # released: its row is gone


async def test_a_worker_that_loses_its_claim_has_its_work_cancelled(tmp_path: Path) -> None:
    async with state_store(tmp_path) as store:
        claims = OrderClaims(store.claims, ttl_s=0.3, clock=RealClock(), owner="worker-a")
        stopped = asyncio.Event()
        cancelled: list[bool] = []

        async def work() -> None:
            try:
                await stopped.wait()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        running = asyncio.create_task(claims.run("order-1", work))
        while (held := await store.claims.holder("order-1")) is None:
            await asyncio.sleep(0.01)
        async with store.db.transaction() as tx:  # another worker took it over (the holder was paused)
            await tx.execute("UPDATE claims SET owner = ?, token = ? WHERE name = ?", "worker-b", "t2",
                             "order-1")
        with pytest.raises(StaleLease):
            await asyncio.wait_for(running, 10)
        assert cancelled == [True] and held.owner == "worker-a"
        still = await store.claims.holder("order-1")
        assert still is not None and still.owner == "worker-b"  # the loser's release took nothing away
