"""Prometheus metrics of the bus: publish latency by backend and outcome, the receiver spool's depth and
oldest age, consumer lag per group and partition (issue 14 item 2). Labels carry no event data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def timed_publish(backend: str) -> Iterator[dict[str, str]]:
    """Observe one publish: outcome "ok", or the kind of error it raised; the caller may set another."""
    state = {"outcome": "ok"}
    started = time.perf_counter()
    try:
        yield state
    except BusUnavailable:
        state["outcome"] = "unavailable"
        raise
    except EventTooLarge:
        state["outcome"] = "too_large"
        raise
    except BaseException:
        state["outcome"] = "error"
        raise
    finally:
        PUBLISH_SECONDS.labels(backend, state["outcome"]).observe(time.perf_counter() - started)


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
