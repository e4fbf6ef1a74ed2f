"""The worker loop on real Kafka: unfinished or failing work keeps its offset; slow orders don't block."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.base import Bus, Delivery, Partition
from bus.deadletter import DeadLetter
from bus.kafka import KafkaBus
from bus.replay import scan
from consumers.clock import RealClock
from consumers.context import WorkContext
from consumers.errors import ArtifactsFailed, PermanentError, ServerError
from consumers.publish import Publisher
from consumers.retry import Attempts, RetriesExhausted
from consumers.storage import FolderStore
from consumers.worker import Worker
from schemas import ids
from schemas.envelope import Envelope
from schemas.events import ScanNotified
from schemas.settings import BusSettings, KafkaSettings, RetrySettings, Settings, WorkerSettings
from schemas.topics import SCAN_NOTIFIED, Topics
from tests.events import collect
from tests.shared import shared_state

HandleFn = Callable[[ScanNotified], Coroutine[Any, Any, None]]


class FnHandler:
    def __init__(self, fn: HandleFn) -> None:
        self.fn = fn

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        await self.fn(notified)

    async def close(self) -> None:
        return None


def _notified(rx: str) -> Envelope:
    data = ScanNotified(
        vendor="test",
        account="1",
        connection="c",
        rx_id=rx,
        learned_by="webhook",
        received_at=datetime.now(UTC),
    )
    return Envelope(
        id=ids.event_id(SCAN_NOTIFIED, "test", "1", rx, "v"),
        source="scanbridge/test/1",
        type=SCAN_NOTIFIED,
        subject=rx,
        partitionkey=ids.partition_key("test", "1", rx),
        data=data.model_dump(mode="json"),
    )


@pytest.fixture
def settings(tmp_path: Path, kafka_settings: KafkaSettings, topics: Topics) -> Settings:
    retry = RetrySettings(initial_delay_s=0.01, max_delay_s=0.05)
    return Settings(
        bus=BusSettings(backend="kafka", kafka=kafka_settings, topics=topics),
        worker=WorkerSettings(group=f"w-{uuid.uuid4().hex[:8]}", retry=retry),
        state_dir=tmp_path,
    )


@pytest.fixture
async def start_worker(
    settings: Settings, kafka_bus: KafkaBus, tmp_path: Path
) -> AsyncIterator[Callable[[HandleFn], Coroutine[Any, Any, asyncio.Task[None]]]]:
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []
    http = httpx.AsyncClient()
    opened = shared_state(settings)
    shared = await opened.__aenter__()

    async def start(fn: HandleFn, bus: Bus | None = None) -> asyncio.Task[None]:
        ctx = WorkContext(
            settings=settings,
            publisher=Publisher(kafka_bus, settings.bus.topics),
            store=FolderStore(tmp_path / "store"),
            clock=RealClock(),
            http=http,
            shared=shared,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(bus or kafka_bus, {"test": FnHandler(fn)}, ctx).run(stop))
        running.append((stop, task))
        return task

    yield start
    for stop, task in running:
        stop.set()
        if not task.done():
            await asyncio.wait_for(task, 30)
    await opened.__aexit__(None, None, None)
    await http.aclose()


async def _publish(bus: Bus, topics: Topics, *rxs: str) -> None:
    for rx in rxs:
        await bus.publish(topics.events, _notified(rx))


async def _where(bus: Bus, topic: str) -> dict[str, Delivery]:
    """rx id → where its scan.notified sits in the log (partition and offset)."""
    return {d.event.subject or "": d async for d in scan(bus, [topic], datetime(2000, 1, 1, tzinfo=UTC))}


async def _committed_past(bus: Bus, group: str, delivery: Delivery) -> dict[Partition, int]:
    """The group's committed offsets read from the bus (STYLE.md §6), once `delivery` is committed."""
    async with asyncio.timeout(20):
        while (committed := await bus.committed(group, [delivery.partition.topic])).get(
                delivery.partition, 0) <= delivery.offset:
            await asyncio.sleep(0.05)
    return committed


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_unfinished_work_is_not_committed_and_comes_back_after_a_restart(
    start_worker: Any, kafka_bus: KafkaBus, topics: Topics, settings: Settings
) -> None:
    seen_first: list[str] = []
    done_first: list[str] = []
    never = asyncio.Event()

    async def stuck_on_a(n: ScanNotified) -> None:
        seen_first.append(n.rx_id or "")
        if n.rx_id == "a":
            await never.wait()
        done_first.append(n.rx_id or "")

    await _publish(kafka_bus, topics, "a", "b")
    where = await _where(kafka_bus, topics.events)
    a, b = where["a"], where["b"]
    first = await start_worker(stuck_on_a)
    async with asyncio.timeout(20):
        while len(seen_first) < 2 or "b" not in done_first:
            await asyncio.sleep(0.05)
    if b.partition != a.partition:  # "b" was done: committed (the handler returns before the commit)
        committed = await _committed_past(kafka_bus, settings.worker.group, b)
        assert committed[b.partition] == b.offset + 1
    await _stop(first)  # a crash while "a" is still being worked on
    committed = await kafka_bus.committed(settings.worker.group, [topics.events])
    assert committed.get(a.partition, 0) <= a.offset  # "a" was never committed

    seen_second: list[str] = []

    async def record(n: ScanNotified) -> None:
        seen_second.append(n.rx_id or "")

    await start_worker(record)
    async with asyncio.timeout(20):
        while "a" not in seen_second:
            await asyncio.sleep(0.05)
    assert seen_second.count("a") == 1


async def test_a_slow_order_does_not_delay_the_others(
    start_worker: Any, kafka_bus: KafkaBus, topics: Topics
) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def slow_a(n: ScanNotified) -> None:
        if n.rx_id == "slow":
            await release.wait()
        finished.append(n.rx_id or "")

    await _publish(kafka_bus, topics, "slow", *[f"fast{i}" for i in range(5)])
    await start_worker(slow_a)
    async with asyncio.timeout(20):
        while len(finished) < 5:
            await asyncio.sleep(0.05)
    assert "slow" not in finished
    release.set()
    async with asyncio.timeout(20):
        while "slow" not in finished:
            await asyncio.sleep(0.05)
    assert sorted(finished) == sorted(["slow", *(f"fast{i}" for i in range(5))])  # each once


async def test_a_permanent_failure_is_dead_lettered_with_its_reason_and_then_committed(
    start_worker: Any, kafka_bus: KafkaBus, topics: Topics, settings: Settings
) -> None:
    async def refuse(n: ScanNotified) -> None:
        raise PermanentError("vendor says no such order")

    await _publish(kafka_bus, topics, "gone")
    await start_worker(refuse)
    letters = await collect(kafka_bus, [topics.deadletter], lambda ev: len(ev) >= 1)
    assert "vendor says no such order" in str(letters[0].data)
    gone = (await _where(kafka_bus, topics.events))["gone"]
    committed = await _committed_past(kafka_bus, settings.worker.group, gone)
    assert committed[gone.partition] == gone.offset + 1


async def test_a_handler_that_keeps_crashing_is_retried_then_dead_lettered(
    start_worker: Any, kafka_bus: KafkaBus, topics: Topics
) -> None:
    calls: list[str] = []

    async def crash(n: ScanNotified) -> None:
        calls.append(n.rx_id or "")
        raise RuntimeError("bug")

    await _publish(kafka_bus, topics, "buggy")
    await start_worker(crash)
    letters = await collect(kafka_bus, [topics.deadletter], lambda ev: len(ev) >= 1)
    assert len(calls) == 3
    assert "RuntimeError" in str(letters[0].data)


class HiccupBus:
    """The real bus, except that its consumers' first poll fails like a broker error would."""

    def __init__(self, inner: KafkaBus) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def consumer(self, topics: list[str], group: str) -> Any:
        real = self.inner.consumer(topics, group)
        failed: list[bool] = []

        async def poll(max_records: int = 100, timeout_s: float = 1.0) -> Any:
            if not failed:
                failed.append(True)
                raise ConnectionError("broker hiccup")
            return await type(real).poll(real, max_records, timeout_s)

        real.poll = poll  # type: ignore[method-assign]
        return real


async def test_a_failing_poll_does_not_end_the_worker(
    start_worker: Any, kafka_bus: KafkaBus, topics: Topics
) -> None:
    done: list[str] = []

    async def record(n: ScanNotified) -> None:
        done.append(n.rx_id or "")

    await _publish(kafka_bus, topics, "after-hiccup")
    task = await start_worker(record, HiccupBus(kafka_bus))
    async with asyncio.timeout(20):
        while "after-hiccup" not in done:
            assert not task.done()
            await asyncio.sleep(0.05)
    assert done == ["after-hiccup"]


@pytest.mark.parametrize("failure", ["retries_exhausted", "artifacts_failed"])
async def test_a_dead_letter_lists_the_attempts_its_reason_counts(
    start_worker: Any, kafka_bus: KafkaBus, topics: Topics, failure: str
) -> None:
    tried = Attempts()
    for _ in range(4):
        tried.add(ServerError("503"))

    async def give_up(n: ScanNotified) -> None:
        exhausted = RetriesExhausted("itero scan_3d", ServerError("503"), tried)
        if failure == "retries_exhausted":
            raise exhausted
        raise ArtifactsFailed(f"1 of 2 artifacts failed: scan_3d: {exhausted}", tried.history)

    await _publish(kafka_bus, topics, "tired")
    await start_worker(give_up)
    [letter] = await collect(kafka_bus, [topics.deadletter], lambda ev: len(ev) >= 1)
    wrapped = DeadLetter.model_validate(letter.json_data())
    assert "gave up after 4 attempts" in wrapped.reason
    assert len(wrapped.attempts) == 4
