"""Behaviour every bus backend must show: durable publish, ordered keys, committed offsets, seek."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bus.base import Bus, Delivery
from schemas.envelope import Envelope
from schemas.topics import Topics


def _event(n: int, key: str = "itero:1:rx") -> Envelope:
    return Envelope(id=f"e{n}", source="scanbridge/test/1", type="scan.notified", subject="rx",
                    partitionkey=key, data={"n": n})


async def _drain(bus: Bus, topics: list[str], group: str, want: int, timeout: float = 20) -> list[Delivery]:
    consumer = bus.consumer(topics, group)
    await consumer.start()
    got: list[Delivery] = []
    try:
        async with asyncio.timeout(timeout):
            while len(got) < want:
                got.extend(await consumer.poll(timeout_s=0.5))
        last = {d.partition: d.offset + 1 for d in got}
        await consumer.commit(last)
    finally:
        await consumer.close()
    return got


async def test_published_events_arrive_in_key_order_with_their_attributes(bus: Bus, topics: Topics) -> None:
    for n in range(5):
        await bus.publish(topics.events, _event(n))
    got = await _drain(bus, [topics.events], "g1", 5)
    assert [d.event.data for d in got] == [{"n": n} for n in range(5)]
    first = got[0].event
    assert (first.id, first.type, first.subject, first.partitionkey) == (
        "e0", "scan.notified", "rx", "itero:1:rx"
    )


async def test_raw_bytes_of_an_inbound_record_survive_verbatim(bus: Bus, topics: Topics) -> None:
    raw = b'{ "id" : "x",  "Extra": [1,2] }'
    await bus.publish(topics.inbound, Envelope(id="i1", source="s", type="inbound.received",
                                               partitionkey="k", data=raw))
    got = await _drain(bus, [topics.inbound], "g1", 1)
    assert got[0].event.data == raw


async def test_a_group_resumes_after_its_committed_offset_only(bus: Bus, topics: Topics) -> None:
    for n in range(3):
        await bus.publish(topics.events, _event(n))
    consumer = bus.consumer([topics.events], "g2")
    await consumer.start()
    got: list[Delivery] = []
    async with asyncio.timeout(20):
        while len(got) < 3:
            got.extend(await consumer.poll(timeout_s=0.5))
    await consumer.commit({got[0].partition: got[0].offset + 1})  # only the first is done
    await consumer.close()
    again = await _drain(bus, [topics.events], "g2", 2)
    assert [d.event.id for d in again] == ["e1", "e2"]


async def test_seek_to_time_skips_older_events(bus: Bus, topics: Topics) -> None:
    await bus.publish(topics.events, _event(0))
    await asyncio.sleep(0.05)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await bus.publish(topics.events, _event(1))
    consumer = bus.consumer([topics.events], "g3")
    await consumer.start()
    try:
        await consumer.seek_to_time(cut)
        got: list[Delivery] = []
        async with asyncio.timeout(20):
            while not got:
                got.extend(await consumer.poll(timeout_s=0.5))
        assert [d.event.id for d in got] == ["e1"]
    finally:
        await consumer.close()


async def test_the_bus_reports_ready(bus: Bus) -> None:
    assert await bus.ready()


async def test_seek_returns_positions_and_end_offsets_count_what_is_left(bus: Bus, topics: Topics) -> None:
    for n in range(4):
        await bus.publish(topics.events, _event(n))
    consumer = bus.consumer([topics.events], "g4")
    await consumer.start()
    try:
        starts = await consumer.seek_to_time(datetime(2000, 1, 1, tzinfo=UTC))
        ends = await consumer.end_offsets()
        assert set(starts) == set(ends)
        assert sum(ends[p] - starts[p] for p in ends) == 4
    finally:
        await consumer.close()


async def test_missing_topics_are_named_and_asking_creates_none(bus: Bus, topics: Topics) -> None:
    absent = f"{topics.events}.absent"
    assert await bus.missing_topics([topics.events, absent]) == [absent]
    assert await bus.missing_topics([absent]) == [absent]  # still absent after being asked about


async def test_live_members_of_a_group_are_listed_until_they_leave(bus: Bus, topics: Topics) -> None:
    assert await bus.group_members("g5") == []
    consumer = bus.consumer([topics.events], "g5")
    await consumer.start()
    try:
        await consumer.end_offsets()  # waits until the member holds its partitions
        assert len(await bus.group_members("g5")) == 1
    finally:
        await consumer.close()
    async with asyncio.timeout(30):  # Kafka drops a leaving member from the group asynchronously
        while await bus.group_members("g5"):
            await asyncio.sleep(0.1)


async def test_committed_offsets_are_read_back_per_partition(bus: Bus, topics: Topics) -> None:
    for n in range(3):
        await bus.publish(topics.events, _event(n))
    assert await bus.committed("g6", [topics.events]) == {}
    got = await _drain(bus, [topics.events], "g6", 3)
    assert await bus.committed("g6", [topics.events]) == {d.partition: d.offset + 1 for d in got}
    assert await bus.committed("g6", [topics.artifacts]) == {}
