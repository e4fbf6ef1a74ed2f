"""The overview's figures, read from the same Prometheus metrics `/metrics` serves (README "Metrics"):
this process's registry (the console inside `scanbridge run`) plus the `/metrics` pages named in
`console.metrics_urls` (a console of its own beside the other processes). Webhooks per minute come from
two readings of `scanbridge_webhooks_total` at least a minute apart (one every 15 s while the console
runs, kept for 10 minutes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client import REGISTRY, Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)
KEEP_S = 600.0
RATE_AFTER_S = 60.0
SAMPLE_S = 15.0


@dataclass
class Reading:
    webhooks: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # vendor → total
    rejected: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # vendor → non-2xx
    lag: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # group → events
    spool_events: float = 0.0
    spool_oldest_s: float = 0.0
    dead_lettered: float = 0.0
    in_flight: float = 0.0
    sources: int = 0  # how many /metrics pages were read (the registry counts as one)
    unreadable: list[str] = field(default_factory=list)


def _add(reading: Reading, families: Iterable[Metric]) -> None:
    for family in families:
        for s in family.samples:
            if s.name == "scanbridge_webhooks_total":
                reading.webhooks[s.labels.get("vendor", "?")] += s.value
                if not s.labels.get("status", "").startswith("2"):
                    reading.rejected[s.labels.get("vendor", "?")] += s.value
            elif s.name == "scanbridge_consumer_lag":
                reading.lag[s.labels.get("group", "?")] += s.value
            elif s.name == "scanbridge_spool_events":
                reading.spool_events += s.value
            elif s.name == "scanbridge_spool_oldest_age_seconds":
                reading.spool_oldest_s = max(reading.spool_oldest_s, s.value)
            elif s.name == "scanbridge_dead_letters_total":
                reading.dead_lettered += s.value
            elif s.name == "scanbridge_orders_in_flight":
                reading.in_flight += s.value


class Figures:
    def __init__(self, urls: list[str], clock: Callable[[], float], local: bool = True) -> None:
        self._urls = urls
        self._clock = clock
        self._local = local
        self._history: deque[tuple[float, dict[str, float]]] = deque()

    async def read(self) -> Reading:
        reading = Reading()
        if self._local:
            _add(reading, REGISTRY.collect())
            reading.sources += 1
        if self._urls:
            async with httpx.AsyncClient(timeout=5.0) as http:
                for url in self._urls:
                    try:
                        answer = await http.get(url)
                        answer.raise_for_status()
                        _add(reading, text_string_to_metric_families(answer.text))
                        reading.sources += 1
                    except (httpx.HTTPError, ValueError) as exc:
                        reading.unreadable.append(url)
                        log.warning("console: %s not readable: %s", url, type(exc).__name__)
        now = self._clock()
        self._history.append((now, dict(reading.webhooks)))
        while self._history and self._history[0][0] < now - KEEP_S:
            self._history.popleft()
        return reading

    async def sample(self, stop: asyncio.Event, every_s: float = SAMPLE_S) -> None:
        """Read every `every_s` until `stop`, so the per-minute rates are there at the first page view."""
        while not stop.is_set():
            await self.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    def per_minute(self, reading: Reading) -> dict[str, float | None]:
        """Webhooks per minute by vendor since the oldest reading a minute or more ago (None: too early)."""
        now = self._clock()
        older = [(t, w) for t, w in self._history if t <= now - RATE_AFTER_S]
        if not older:
            return {vendor: None for vendor in reading.webhooks}
        then, before = older[0]
        minutes = (now - then) / 60.0
        return {vendor: max(0.0, total - before.get(vendor, 0.0)) / minutes
                for vendor, total in reading.webhooks.items()}
