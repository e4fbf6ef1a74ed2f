"""Prometheus metrics of the bus: publish latency by backend and outcome, the receiver spool's depth and
oldest age, consumer lag per group and partition (issue 14 item 2). Labels carry no event data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Gauge, Histogram

from bus.errors import BusUnavailable, EventTooLarge

PUBLISH_SECONDS = Histogram(
    "scanbridge_publish_seconds", "Time from publish to durable acknowledgement (or failure)",
    ["backend", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SPOOL_EVENTS = Gauge("scanbridge_spool_events",
                     "Events in the receiver's spool not yet acknowledged by Kafka")
SPOOL_OLDEST_AGE = Gauge("scanbridge_spool_oldest_age_seconds",
                         "Age of the oldest event in the receiver's spool (0 when empty)")
CONSUMER_LAG = Gauge("scanbridge_consumer_lag", "Events after the group's committed offset",
                     ["group", "topic", "partition"])


_publish_children: dict[tuple[str, str], Any] = {}  # (backend, outcome) → its histogram child


def observe_publish(backend: str, outcome: str, seconds: float, count: int = 1) -> None:
    """`count` publishes that took `seconds` together; the labelled child looked up once (issue 16)."""
    child = _publish_children.get((backend, outcome))
    if child is None:
        child = _publish_children[(backend, outcome)] = PUBLISH_SECONDS.labels(backend, outcome)
    for _ in range(count):
        child.observe(seconds)


def outcome_of(exc: BaseException) -> str:
    """The outcome label of a publish that raised `exc`."""
    if isinstance(exc, BusUnavailable):
        return "unavailable"
    if isinstance(exc, EventTooLarge):
        return "too_large"
    return "error"


@contextmanager
def timed_publish(backend: str, count: int = 1) -> Iterator[dict[str, str]]:
    """Observe `count` publishes: outcome "ok", or the kind of error raised; the caller may set another."""
    state = {"outcome": "ok"}
    started = time.perf_counter()
    try:
        yield state
    except BaseException as exc:
        state["outcome"] = outcome_of(exc)
        raise
    finally:
        observe_publish(backend, state["outcome"], time.perf_counter() - started, count)


def set_lag(group: str, lags: dict[tuple[str, int], int]) -> None:
    for (topic, partition), lag in lags.items():
        CONSUMER_LAG.labels(group, topic, str(partition)).set(max(0, lag))


def forget_lag(group: str, partitions: set[tuple[str, int]]) -> None:
    """Partitions this member no longer holds: their series belong to the new owner."""
    for topic, partition in partitions:
        try:
            CONSUMER_LAG.remove(group, topic, str(partition))
        except KeyError:
            pass
