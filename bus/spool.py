"""A `Bus` that spools to a local file when the primary (Kafka) does not acknowledge, and forwards later.

Nothing is lost (DESIGN.md §5.1): a publish returns once the primary acknowledged or the event is
fsynced to the spool; a spooled row is deleted only after the primary acknowledged it. While the spool
holds rows, new publishes are spooled behind them so each key keeps its order. Use one spool file
per publishing process: the order guarantee rests on the in-process lock below.

While the primary is down the forwarder retries every `retry_s` but reports at most once per
`report_every_s` (how many events wait, for how long); it says once when the primary is back. A primary
that is down when the bus starts (its topics could not be created) puts the bus in spooling mode at once,
so the first webhooks do not each wait for a timeout.

A spooled event the primary refuses for its size (`EventTooLarge`) can never be forwarded: it is
appended as a dead letter to `<spool>.refused.jsonl` (0600, fsynced) and leaves the spool, so it does
not hold back the events behind it for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from pathlib import Path

from bus.base import Bus, Consumer, Partition
from bus.deadletter import make_dead_letter
from bus.errors import BusError, BusRefused, BusUnavailable, EventTooLarge, TopicsNotReady
from bus.local import LocalBus
from bus.metrics import SPOOL_EVENTS, SPOOL_OLDEST_AGE
from schemas.envelope import Envelope, utcnow
from schemas.files import open_private

log = logging.getLogger(__name__)


class SpoolingBus:
    def __init__(self, primary: Bus, spool: LocalBus, retry_s: float = 1.0, batch: int = 500,
                 report_every_s: float = 60.0) -> None:
        self._primary = primary
        self._spool = spool
        self._retry_s = retry_s
        self._report_every_s = report_every_s
        self._down_since: float | None = None  # monotonic time of the first failed forward of an outage
        self._last_report = 0.0
        self._batch = batch
        self._lock = asyncio.Lock()  # orders "is the spool in use?" against spool writes
        self._spooling = False
        self._wake = asyncio.Event()
        self._spool_topics: set[str] = set()
        self._primary_topics: list[str] = []  # topics still to create on the primary
        self._task: asyncio.Task[None] | None = None
        self._depth = 0  # rows in the spool, for the gauges
        self._oldest: datetime | None = None  # event time of the oldest row
        self.counters: Counter[str] = Counter()  # published, spooled, forwarded, forward_failed, refused
        self.refused_path = spool.path.with_name(spool.path.name + ".refused.jsonl")

    async def start(self) -> None:
        await self._spool.start()
        self._depth = await self._spool.count()
        oldest = await self._spool.oldest(1)
        self._oldest = oldest[0][2].time if oldest else None
        SPOOL_EVENTS.set_function(lambda: self._depth)
        SPOOL_OLDEST_AGE.set_function(self.oldest_age_s)
        self._spooling = self._depth > 0 or bool(self._primary_topics)
        await self._primary.start()
        if self._primary_topics:
            log.warning("primary bus not reachable at start; spooling to %s until it is", self._spool.path)
        self._task = asyncio.create_task(self._forward_loop(), name="spool-forwarder")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._primary.close()
        await self._spool.close()

    async def publish(self, topic: str, event: Envelope) -> None:
        await self.publish_many([(topic, event)])

    async def publish_many(self, records: Sequence[tuple[str, Envelope]]) -> None:
        """To the primary together; all to the spool (in order, one commit) when it is in use or the primary
        did not acknowledge them all (those it did are forwarded again later: their ids collapse)."""
        async with self._lock:
            if self._spooling:
                await self._to_spool(records)
                return
        try:
            await self._primary.publish_many(records)
        except BusUnavailable as exc:
            log.warning("primary bus did not acknowledge; spooling event %s: %s",
                        ", ".join(event.id for _, event in records), exc)
            async with self._lock:
                await self._to_spool(records)
            return
        self.counters["published"] += len(records)

    async def _to_spool(self, records: Sequence[tuple[str, Envelope]]) -> None:
        """Append to the spool (the lock is held). Raises BusUnavailable if the disk fails too."""
        missing = list(dict.fromkeys(topic for topic, _ in records if topic not in self._spool_topics))
        if missing:
            await self._spool.ensure_topics(missing)
            self._spool_topics.update(missing)
        await self._spool.publish_many(records)
        self._depth += len(records)
        if self._oldest is None:
            self._oldest = records[0][1].time
        self._spooling = True
        self._wake.set()
        self.counters["spooled"] += len(records)

    def oldest_age_s(self) -> float:
        """How long the oldest spooled event has waited (0 with an empty spool)."""
        if self._oldest is None or self._depth == 0:
            return 0.0
        return max(0.0, (utcnow() - self._oldest).total_seconds())

    async def pending(self) -> int:
        """Events in the spool not yet acknowledged by the primary."""
        return await self._spool.count()

    async def ready(self) -> bool:
        """The spool can take events (while spooling the primary is not asked: it may hang for seconds)."""
        if self._spooling:
            return await self._spool.ready()
        return await self._primary.ready() or await self._spool.ready()

    def degraded(self) -> str | None:
        """"spooling" while publishes go to the spool (the primary is down or the spool still drains)."""
        return "spooling" if self._spooling else None

    async def ensure_topics(self, topics: list[str]) -> None:
        """Create topics in the spool now and on the primary now or, if it is down, before forwarding."""
        await self._spool.ensure_topics(topics)
        self._spool_topics.update(topics)
        try:
            await self._primary.ensure_topics(topics)
        except BusRefused:
            raise  # a configuration problem: spooling would only hide it
        except BusUnavailable as exc:
            log.warning("primary bus cannot create topics now; will retry: %s", exc)
            self._primary_topics.extend(topics)

    async def missing_topics(self, topics: list[str]) -> list[str]:
        return await self._primary.missing_topics(topics)

    async def group_members(self, group: str) -> list[str]:
        return await self._primary.group_members(group)

    async def committed(self, group: str, topics: list[str]) -> dict[Partition, int]:
        return await self._primary.committed(group, topics)

    def consumer(self, topics: list[str], group: str) -> Consumer:
        return self._primary.consumer(topics, group)

    async def _forward_loop(self) -> None:
        while True:
            if not self._spooling:
                await self._wake.wait()
                self._wake.clear()
                continue
            try:
                done = await self._forward_batch()
            except BusRefused:
                raise
            except (BusUnavailable, TopicsNotReady) as exc:
                await self._outage(exc)
                done = False
            except Exception:  # the forwarder must outlive any failure; it logs and retries
                log.exception("spool forwarder failed; retrying")
                done = False
            if not done:
                self.counters["forward_failed"] += 1
                await asyncio.sleep(self._retry_s)
            elif self._down_since is not None and not self._spooling:
                log.warning("primary bus reachable again after %.0f s; the spool is drained",
                            time.monotonic() - self._down_since)
                self._down_since = None

    async def _outage(self, error: BusError) -> None:
        """Note a failed forward; report the outage when it starts and then once per report_every_s."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        elif now - self._last_report < self._report_every_s:
            return
        self._last_report = now
        log.warning("primary bus unavailable for %.0f s; %d events wait in the spool %s "
                    "(retrying every %g s, next report in %g s): %s", now - self._down_since,
                    await self._spool.count(), self._spool.path, self._retry_s, self._report_every_s, error)

    async def _forward_batch(self) -> bool:
        """Forward the oldest rows; True when all of them were acknowledged by the primary."""
        if self._primary_topics:
            await self._primary.ensure_topics(self._primary_topics)
            self._primary_topics.clear()
        rows = await self._spool.oldest(self._batch)
        if not rows:
            async with self._lock:
                if await self._spool.count() == 0:
                    self._spooling = False
                    self._depth, self._oldest = 0, None
            return True
        self._oldest = rows[0][2].time
        # Keys are independent: forward each (topic, key) run concurrently, each in order.
        runs = [list(run) for _, run in groupby(sorted(rows, key=lambda r: (r[1], r[2].partitionkey, r[0])),
                                                key=lambda r: (r[1], r[2].partitionkey))]
        results = await asyncio.gather(*(self._forward_run(run) for run in runs))
        acknowledged = [seq for seqs, _ in results for seq in seqs]
        await self._spool.remove(acknowledged)
        self._depth = max(0, self._depth - len(acknowledged))
        self.counters["forwarded"] += len(acknowledged)
        errors = [error for _, error in results if error is not None]
        if errors:
            await self._outage(errors[0])
        return len(acknowledged) == len(rows)

    async def _forward_run(
        self, run: list[tuple[int, str, Envelope]]
    ) -> tuple[list[int], BusUnavailable | None]:
        """Publish one key's rows in order; stop at the first that is not acknowledged (and say why)."""
        done: list[int] = []
        for seq, topic, event in run:
            try:
                await self._primary.publish(topic, event)
            except BusUnavailable as exc:
                return done, exc
            except EventTooLarge as exc:
                await asyncio.to_thread(_append_refused, self.refused_path, topic, event, str(exc))
                self.counters["refused"] += 1
                log.error("spooled event %s refused by the primary for its size; kept in %s",
                          event.id, self.refused_path)
            done.append(seq)
        return done, None


def _append_refused(path: Path, topic: str, event: Envelope, reason: str) -> None:
    """One dead letter (bus.deadletter's shape, so it can be published again) as a JSON line, fsynced."""
    letter = make_dead_letter(event, topic, reason, [(utcnow(), f"EventTooLarge: {reason}")])
    line = json.dumps(letter.json_data(), separators=(",", ":")) + "\n"
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
