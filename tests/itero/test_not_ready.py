"""A 404 "not generated yet" that lasts minutes delays only its own order (itero-dpms-api.txt Download
Scan: retry after 1–2 min; Align guideline §3.7.2, §3.9). Time is a ManualClock, shared by the worker and
the simulator, so minutes pass without sleeping."""

from __future__ import annotations

import asyncio
import contextlib

from consumers.clock import ManualClock
from scanbridge.runtime import run_worker
from schemas.envelope import Envelope
from schemas.settings import RetrySettings
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED
from simulators.itero.notify import post_notification
from tests.events import collect, of_type
from tests.itero.conftest import Stack

PATIENT_RETRY = RetrySettings(initial_delay_s=15.0, max_delay_s=60.0, not_ready_for_s=1800.0,
                              server_error_for_s=900.0, request_timeout_s=10.0)


def _stored_for(events: list[Envelope], rx_id: str) -> list[Envelope]:
    return [e for e in of_type(events, ARTIFACT_STORED) if e.subject == rx_id]


async def _drive(clock: ManualClock, step_s: float) -> None:
    """Move time forward whenever someone waits on it."""
    for _ in range(1_000_000):
        if clock.sleeping:
            await clock.advance(step_s)
        await asyncio.sleep(0.01)


async def test_a_scan_not_ready_for_minutes_delays_only_its_own_order(stack: Stack) -> None:
    clock = ManualClock()
    stack.sim.clock = clock.now
    worker = stack.settings.worker.model_copy(update={"retry": PATIENT_RETRY})
    settings = stack.settings.model_copy(update={"worker": worker})
    slow = stack.sim.add_order(size=10_000, not_ready_for_s=300.0)  # five minutes of 404
    fast = stack.sim.add_order(size=10_000)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stack.bus, stop, clock=clock))
    try:
        await post_notification(stack.hook, slow.rx_id, stack.sim.company_id)
        await post_notification(stack.hook, fast.rx_id, stack.sim.company_id)
        events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                               lambda ev: len(_stored_for(ev, fast.rx_id)) >= 2)
        assert clock.now() == 0.0  # the ready order did not wait for the other one's retries
        assert not _stored_for(events, slow.rx_id)
        assert {e.subject for e in of_type(events, ORDER_UPDATED)} >= {fast.rx_id}
        driver = asyncio.create_task(_drive(clock, 15.0))
        try:
            events = await collect(stack.bus, [stack.topics.artifacts],
                                   lambda ev: len(_stored_for(ev, slow.rx_id)) >= 2)
        finally:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        assert clock.now() >= 300.0
        assert len(_stored_for(events, fast.rx_id)) == 2  # nothing of the fast order was redone
        not_ready = [p for _, p in stack.sim.requests if p.endswith(f"/order/{slow.order_id}/download/IDE")]
        assert len(not_ready) >= 3
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
