"""What only the local backend has to show: one file shared by connections and processes, and reopened."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bus.base import Delivery
from bus.errors import BusUnavailable
from bus.local import LocalBus
from schemas.envelope import Envelope

TOPIC = "t.events"
ROOT = Path(__file__).resolve().parents[2]


def _event(n: int) -> Envelope:
    return Envelope(
        id=f"e{n}", source="scanbridge/test/1", type="scan.notified", partitionkey="k", data={"n": n}
    )


async def _poll_ids(bus: LocalBus, group: str, want: int) -> list[str]:
    """Read `want` events and commit after the last of them."""
    consumer = bus.consumer([TOPIC], group)
    await consumer.start()
    got: list[Delivery] = []
    try:
        async with asyncio.timeout(20):
            while len(got) < want:
                got.extend(await consumer.poll(max_records=want - len(got), timeout_s=0.2))
        await consumer.commit({got[-1].partition: got[-1].offset + 1})
    finally:
        await consumer.close()
    return [d.event.id for d in got]


async def test_two_instances_on_one_file_see_each_others_events(tmp_path: Path) -> None:
    writer, reader = LocalBus(tmp_path / "bus.db"), LocalBus(tmp_path / "bus.db")
    await writer.ensure_topics([TOPIC])
    await writer.start()
    await reader.start()
    try:
        await writer.publish(TOPIC, _event(0))
        await reader.publish(TOPIC, _event(1))
        assert await _poll_ids(reader, "g", 2) == ["e0", "e1"]
    finally:
        await writer.close()
        await reader.close()


async def test_events_written_by_another_process_are_consumed(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    bus = LocalBus(path)
    await bus.ensure_topics([TOPIC])
    script = (
        "import asyncio, sys; from bus.local import LocalBus; from schemas.envelope import Envelope\n"
        "async def main():\n"
        "    bus = LocalBus(sys.argv[1]); await bus.start()\n"
        "    event = Envelope(id='p1', source='s', type='t', partitionkey='k', data={})\n"
        "    await bus.publish('t.events', event)\n"
        "    await bus.close()\n"
        "asyncio.run(main())\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(path), cwd=ROOT)
    assert await proc.wait() == 0
    try:
        assert await _poll_ids(bus, "g", 1) == ["p1"]
    finally:
        await bus.close()


async def test_a_reopened_file_keeps_events_and_committed_offsets(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path / "bus.db")
    await bus.ensure_topics([TOPIC])
    for n in range(3):
        await bus.publish(TOPIC, _event(n))
    assert await _poll_ids(bus, "g", 1) == ["e0"]
    await bus.close()
    reopened = LocalBus(tmp_path / "bus.db")
    try:
        await reopened.publish(TOPIC, _event(3))
        assert await _poll_ids(reopened, "g", 3) == ["e1", "e2", "e3"]
    finally:
        await reopened.close()


async def test_a_second_member_of_a_group_waits_until_the_first_leaves(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path / "bus.db")
    await bus.ensure_topics([TOPIC])
    await bus.publish(TOPIC, _event(0))
    first, second = bus.consumer([TOPIC], "g"), bus.consumer([TOPIC], "g")
    await first.start()
    await second.start()
    try:
        assert [d.event.id for d in await first.poll(timeout_s=5)] == ["e0"]
        assert await second.poll(timeout_s=0.2) == []  # the partition belongs to `first`
        await first.close()  # leaves without committing: e0 goes to the next member
        got: list[Delivery] = []
        async with asyncio.timeout(20):
            while not got:
                got = await second.poll(timeout_s=0.5)
        assert [d.event.id for d in got] == ["e0"]
    finally:
        await second.close()


async def test_concurrent_publishes_are_committed_together_and_a_bad_topic_fails_alone(
    tmp_path: Path,
) -> None:
    bus = LocalBus(tmp_path / "gc.sqlite3")
    await bus.ensure_topics(["t"])
    await bus.start()

    def event(n: int) -> Envelope:
        return Envelope(id=f"g{n}", source="s", type="x", partitionkey=f"k{n % 3}", data={"n": n})

    results = await asyncio.gather(
        *(bus.publish("t", event(n)) for n in range(200)),
        bus.publish("missing", event(999)),
        return_exceptions=True,
    )
    assert [r for r in results[:200] if r is not None] == []
    assert isinstance(results[200], BusUnavailable)
    consumer = bus.consumer(["t"], "g")
    await consumer.start()
    got: list[int] = []
    async with asyncio.timeout(20):
        while len(got) < 200:
            got.extend(d.event.json_data()["n"] for d in await consumer.poll(max_records=500, timeout_s=0.2))
    await consumer.close()
    await bus.close()
    assert got == list(range(200))  # one partition: publish order kept


async def test_asking_about_topics_and_groups_creates_no_log_file(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path / "none" / "bus.sqlite3")
    assert await bus.missing_topics(["t"]) == ["t"]
    assert await bus.group_members("g") == []
    assert await bus.committed("g", ["t"]) == {}
    await bus.close()
    assert not (tmp_path / "none").exists()
