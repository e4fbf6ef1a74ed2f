"""Replay on both backends: a time range (filtered) to a topic, marked; a group rewound; the CLI."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bus.base import Bus, Delivery
from bus.replay import Selection, parse_source, replay_to_topic, rewind_group, scan
from schemas.envelope import Envelope
from schemas.settings import BusSettings
from schemas.topics import Topics
from tests.cli import invoke


def _event(n: int, vendor: str = "itero", account: str = "a1", type_: str = "scan.notified") -> Envelope:
    return Envelope(id=f"e{n}", source=f"scanbridge/{vendor}/{account}", type=type_, subject=f"rx{n}",
                    partitionkey=f"{vendor}:{account}:rx{n}", data={"n": n})


async def _cut() -> datetime:
    """A moment strictly between the records published before and after it."""
    await asyncio.sleep(0.05)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    return cut


async def _seed(bus: Bus, topics: Topics) -> tuple[datetime, datetime]:
    """e0 | cut1 | e1 e2 (medit) e3 (artifact) | cut2 | e4."""
    await bus.publish(topics.events, _event(0))
    first = await _cut()
    await bus.publish(topics.events, _event(1))
    await bus.publish(topics.events, _event(2, vendor="meditlink"))
    await bus.publish(topics.artifacts, _event(3, type_="artifact.stored"))
    second = await _cut()
    await bus.publish(topics.events, _event(4))
    return first, second


async def _all(bus: Bus, topic: str) -> list[Delivery]:
    return [d async for d in scan(bus, [topic], datetime(2000, 1, 1, tzinfo=UTC))]


def test_vendor_and_account_come_from_the_source() -> None:
    assert parse_source("scanbridge/itero/clinic-7") == ("itero", "clinic-7")
    assert parse_source("https://example.org/x") == (None, None)


async def test_a_range_is_replayed_to_a_topic_marked_and_filtered(bus: Bus, topics: Topics) -> None:
    first, second = await _seed(bus, topics)
    target = f"{topics.events}.replay"
    await bus.ensure_topics([target])
    sources = [topics.events, topics.artifacts]

    counts = await replay_to_topic(bus, sources, target, Selection(first, second, vendor="itero"))

    assert counts == Counter({"scan.notified": 1, "artifact.stored": 1})
    got = await _all(bus, target)
    assert sorted(d.event.id for d in got) == ["e1", "e3"]
    for d in got:
        assert d.event.extensions["replayed"] == "true"
    assert {d.event.id: d.event.extensions["replayedfrom"] for d in got} == {
        "e1": topics.events, "e3": topics.artifacts}


async def test_a_dry_run_counts_and_publishes_nothing(bus: Bus, topics: Topics) -> None:
    first, _ = await _seed(bus, topics)
    target = f"{topics.events}.replay"
    await bus.ensure_topics([target])
    counts = await replay_to_topic(bus, [topics.events], target, Selection(first), dry_run=True)
    assert counts == Counter({"scan.notified": 3})
    assert await _all(bus, target) == []


async def test_a_rewound_group_reads_again_from_the_first_event_after_the_time(
    bus: Bus, topics: Topics
) -> None:
    first, _ = await _seed(bus, topics)
    consumer = bus.consumer([topics.events], "worker")
    await consumer.start()
    seen: list[Delivery] = []
    async with asyncio.timeout(20):
        while len(seen) < 4:
            seen.extend(await consumer.poll(timeout_s=0.5))
    await consumer.commit({d.partition: d.offset + 1 for d in seen})
    await consumer.close()

    counts = await rewind_group(bus, [topics.events], "worker", first)

    assert counts == Counter({"scan.notified": 3})
    consumer = bus.consumer([topics.events], "worker")
    await consumer.start()
    again: list[Delivery] = []
    try:
        async with asyncio.timeout(20):
            while len(again) < 3:
                again.extend(await consumer.poll(timeout_s=0.5))
    finally:
        await consumer.close()
    assert sorted(d.event.id for d in again) == ["e1", "e2", "e4"]


async def test_the_replay_command_publishes_the_range_and_its_dry_run_counts(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    first, second = await _seed(bus, topics)
    target = f"{topics.events}.replay"
    window = ["replay", "--from", first.isoformat(), "--to", second.isoformat()]

    dry = await invoke([*window, "--type", "scan.notified", "--to-topic", target, "--dry-run"],
                       bus_settings, tmp_path)
    assert dry.exit_code == 0, dry.output
    assert "scan.notified" in dry.output and "would replay" in dry.output

    done = await invoke([*window, "--account", "a1", "--to-topic", target], bus_settings, tmp_path)
    assert done.exit_code == 0, done.output
    got = await _all(bus, target)
    assert sorted(d.event.id for d in got) == ["e1", "e2", "e3"]


async def test_the_replay_command_refuses_filters_for_a_group(
    bus_settings: BusSettings, tmp_path: Path
) -> None:
    result = await invoke(["replay", "--from", "2026-01-01T00:00:00", "--group", "g", "--vendor", "itero"],
                          bus_settings, tmp_path)
    assert result.exit_code == 2


REWIND = ["replay", "--from", "2000-01-01T00:00", "--group", "live"]


async def test_a_group_with_live_members_is_not_rewound_and_the_refusal_says_why(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    await _seed(bus, topics)
    member = bus.consumer([topics.events, topics.artifacts], "live")
    await member.start()
    try:
        seen: list[Delivery] = []
        async with asyncio.timeout(20):
            while len(seen) < 5:
                seen.extend(await member.poll(timeout_s=0.5))
        done = {d.partition: d.offset + 1 for d in seen}
        await member.commit(done)
        before = await bus.committed("live", [topics.events, topics.artifacts])
        assert before == done

        refused = await invoke(REWIND, bus_settings, tmp_path)

        assert refused.exit_code == 1
        assert "'live' has 1 live member(s)" in refused.output and "stop them first" in refused.output
        assert await bus.committed("live", [topics.events, topics.artifacts]) == before
        counted = await invoke([*REWIND, "--dry-run"], bus_settings, tmp_path)
        assert counted.exit_code == 0 and "live member" in counted.output  # counts, and warns
    finally:
        await member.close()
    async with asyncio.timeout(30):  # a member that left is dropped from the group asynchronously (Kafka)
        while await bus.group_members("live"):
            await asyncio.sleep(0.1)
    rewound = await invoke(REWIND, bus_settings, tmp_path)
    assert rewound.exit_code == 0, rewound.output
    after = await bus.committed("live", [topics.events, topics.artifacts])
    assert sum(after.values()) == 0  # back to the first event of every partition


async def test_a_dry_run_without_a_target_counts_what_the_filters_select(
    bus: Bus, bus_settings: BusSettings, topics: Topics, tmp_path: Path
) -> None:
    first, second = await _seed(bus, topics)
    result = await invoke(["replay", "--from", first.isoformat(), "--to", second.isoformat(),
                           "--vendor", "itero", "--type", "scan.notified", "--dry-run"],
                          bus_settings, tmp_path)
    assert result.exit_code == 0, result.output
    assert re.search(r"scan\.notified\s*│\s*1\b", result.output), result.output
    neither = await invoke(["replay", "--from", first.isoformat()], bus_settings, tmp_path)
    assert neither.exit_code == 2
