"""Retries follow the clock they are given: backoff, Retry-After, and a deadline per error kind."""

from __future__ import annotations

import asyncio

import pytest

from bus.base import Partition
from consumers.clock import ManualClock
from consumers.errors import NotReady, ServerError, Throttled
from consumers.offsets import OffsetTracker
from consumers.retry import RetriesExhausted, retrying
from schemas.settings import RetrySettings

POLICY = RetrySettings(initial_delay_s=10, max_delay_s=60, not_ready_for_s=600, server_error_for_s=120)


async def test_a_not_ready_step_is_retried_on_the_clock_until_it_succeeds() -> None:
    clock = ManualClock()
    calls = 0

    async def step() -> str:
        nonlocal calls
        calls += 1
        if clock.now() < 300:
            raise NotReady("404")
        return "ok"

    task = asyncio.create_task(retrying(step, policy=POLICY, clock=clock, what="t"))
    while not task.done():
        await asyncio.sleep(0)
        await clock.advance(30)
    assert task.result() == "ok" and calls > 3 and clock.now() >= 300


async def test_server_errors_give_up_at_their_own_deadline() -> None:
    clock = ManualClock()

    async def step() -> None:
        raise ServerError("500")

    task = asyncio.create_task(retrying(step, policy=POLICY, clock=clock, what="t"))
    while not task.done():
        await asyncio.sleep(0)
        await clock.advance(30)
    with pytest.raises(RetriesExhausted) as info:
        task.result()
    assert clock.now() <= 120 + 60 and len(info.value.attempts) >= 2


async def test_a_vendor_retry_after_is_respected() -> None:
    clock = ManualClock()
    seen: list[float] = []

    async def step() -> str:
        seen.append(clock.now())
        if len(seen) == 1:
            raise Throttled("429", retry_after=90)
        return "ok"

    task = asyncio.create_task(retrying(step, policy=POLICY, clock=clock, what="t"))
    for _ in range(10):
        await asyncio.sleep(0)
        await clock.advance(10)
    assert task.result() == "ok" and seen[1] - seen[0] >= 90


def test_offsets_are_committable_only_below_unfinished_work() -> None:
    tracker = OffsetTracker()
    p = Partition("t", 0)
    for offset in (5, 6, 7):
        tracker.started(p, offset)
    tracker.finished(p, 6)
    tracker.finished(p, 7)
    assert tracker.committable() == {p: 5}  # 5 is still running
    tracker.committed({p: 5})
    tracker.finished(p, 5)
    assert tracker.committable() == {p: 8}
