"""Replay (DESIGN.md §3): re-deliver a time range of the log to a topic, or rewind a consumer group.

Times are the log's record timestamps (when the bus accepted the event), the clock `seek_to_time` uses.
A replay reads each partition from the first event at/after `start` up to the end it had when the
replay began, so a replay into one of its own source topics terminates.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime

from bus.base import Bus, Delivery, Partition
from bus.errors import BusError
from schemas.envelope import Envelope

Progress = Callable[[int, int], None]  # (read so far, total to read)
REPLAYED = "replayed"
REPLAYED_FROM = "replayedfrom"


class GroupInUse(BusError):
    """A group to rewind has live members."""

    def __init__(self, group: str, members: list[str]) -> None:
        super().__init__(f"group {group!r} has {len(members)} live member(s): {', '.join(members)}; "
                         "stop them first (a rewind would force a rebalance and they would commit over it)")
        self.members = members


def parse_source(source: str) -> tuple[str | None, str | None]:
    """`scanbridge/<vendor>/<account>` → (vendor, account); anything else → (None, None)."""
    parts = source.split("/")
    if len(parts) >= 3 and parts[0] == "scanbridge":
        return parts[1], "/".join(parts[2:])
    return None, None


@dataclass(frozen=True)
class Selection:
    """Which events a replay takes: record time in [start, end), and optional exact matches."""

    start: datetime
    end: datetime | None = None
    vendor: str | None = None
    account: str | None = None
    type: str | None = None
    subject: str | None = None

    def filters(self) -> bool:
        return any(v is not None for v in (self.end, self.vendor, self.account, self.type, self.subject))

    def matches(self, delivery: Delivery) -> bool:
        event = delivery.event
        if delivery.timestamp_ms < self.start.timestamp() * 1000:
            return False
        if self.end is not None and delivery.timestamp_ms >= self.end.timestamp() * 1000:
            return False
        vendor, account = parse_source(event.source)
        wanted = ((self.vendor, vendor), (self.account, account), (self.type, event.type),
                  (self.subject, event.subject))
        return all(want is None or want == got for want, got in wanted)


async def scan(bus: Bus, topics: list[str], since: datetime, progress: Progress | None = None,
               ) -> AsyncGenerator[Delivery, None]:
    """Every event of `topics` from `since` up to the current end, read by a throwaway group."""
    if not topics:
        return
    consumer = bus.consumer(topics, f"scanbridge-scan-{uuid.uuid4().hex}")
    await consumer.start()
    try:
        starts = await consumer.seek_to_time(since)
        ends = await consumer.end_offsets()
        left: dict[Partition, int] = {p: end for p, end in ends.items() if starts.get(p, end) < end}
        total = sum(end - starts.get(p, end) for p, end in left.items())
        done = 0
        if progress is not None:
            progress(done, total)
        while left:
            for delivery in await consumer.poll(max_records=500, timeout_s=1.0):
                end = left.get(delivery.partition)
                if end is None or delivery.offset >= end:
                    continue
                done += 1
                yield delivery
                if delivery.offset + 1 >= end:
                    del left[delivery.partition]
            if progress is not None:
                progress(done, total)
    finally:
        await consumer.close()


def marked(event: Envelope, topic: str) -> Envelope:
    """The event as replayed from `topic`: same id and data, extensions `replayed` and `replayedfrom`."""
    extensions = {**event.extensions, REPLAYED: "true", REPLAYED_FROM: topic}
    return event.model_copy(update={"extensions": extensions})


async def replay_to_topic(bus: Bus, sources: list[str], target: str | None, selection: Selection,
                          dry_run: bool = False, progress: Progress | None = None) -> Counter[str]:
    """Publish every selected event of `sources` to `target`, marked; return the counts per type.

    A dry run (or no `target`) only counts what would be published.
    """
    counts: Counter[str] = Counter()
    async for delivery in scan(bus, sources, selection.start, progress):
        if selection.matches(delivery):
            counts[delivery.event.type] += 1
            if not dry_run and target is not None:
                await bus.publish(target, marked(delivery.event, delivery.partition.topic))
    return counts


async def rewind_group(bus: Bus, topics: list[str], group: str, start: datetime,
                       dry_run: bool = False, progress: Progress | None = None) -> Counter[str]:
    """Commit, for `group`, the first offset at/after `start` of every partition.

    Returns the counts per type of the events the group will therefore read (again). A group with live
    members is refused (GroupInUse): joining it would force a rebalance, and the members would keep
    their own positions and commit over these. Stop them first.
    """
    if not dry_run and (members := await bus.group_members(group)):
        raise GroupInUse(group, members)
    counts: Counter[str] = Counter()
    async for delivery in scan(bus, topics, start, progress):
        counts[delivery.event.type] += 1
    if not dry_run:
        consumer = bus.consumer(topics, group)
        await consumer.start()
        try:
            await consumer.commit(await consumer.seek_to_time(start))
        finally:
            await consumer.close()
    return counts
