"""A full artifact store is waited for with long backoff, like an unavailable bus, not dead-lettered after
seconds (issue 10 item 10). Time is a ManualClock shared by the worker and the simulator.

The disk fills up through the store's writer seam: its temporary files are opened on /dev/full, where
every write fails with the kernel's own ENOSPC. A small tmpfs would be the same error but needs root
(mount) in CI; RLIMIT_FSIZE gives EFBIG, a different error; monkeypatching os.write fakes the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from consumers.clock import ManualClock
from consumers.storage import FolderStore, _create
from scanbridge.runtime import run_worker
from schemas.envelope import Envelope
from schemas.settings import RetrySettings
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED
from simulators.itero.notify import post_notification
from tests.events import collect, of_type
from tests.itero.conftest import Stack

PATIENT_RETRY = RetrySettings(initial_delay_s=15.0, max_delay_s=120.0, not_ready_for_s=1800.0,
                              server_error_for_s=900.0, storage_full_for_s=3600.0, request_timeout_s=10.0)


class DiskFull:
    """The store's opener: ENOSPC from the kernel (/dev/full) until the clock reaches `until`."""

    def __init__(self, clock: ManualClock, until: float) -> None:
        self.clock = clock
        self.until = until
        self.refused = 0

    def __call__(self, path: Path) -> BinaryIO:
        if self.clock.now() < self.until:
            self.refused += 1
            return open("/dev/full", "wb")  # the store closes it
        return _create(path)


async def _drive(clock: ManualClock, step_s: float) -> None:
    """Move time forward whenever someone waits on it."""
    for _ in range(1_000_000):
        if clock.sleeping:
            await clock.advance(step_s)
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _worker(stack: Stack, clock: ManualClock, disk: DiskFull) -> AsyncIterator[None]:
    worker = stack.settings.worker.model_copy(update={"retry": PATIENT_RETRY})
    settings = stack.settings.model_copy(update={"worker": worker})
    store = FolderStore(settings.storage.root, opener=disk)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stack.bus, stop, clock=clock, store=store))
    driver = asyncio.create_task(_drive(clock, 30.0))
    try:
        yield
    finally:
        driver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver
        stop.set()
        await asyncio.wait_for(running, 30)


def _parts(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".part-" in p.name]


async def test_a_full_disk_delays_the_artifacts_until_space_returns_and_nothing_is_dead_lettered(
    stack: Stack,
) -> None:
    """Before: the OSError failed the handler three times in a row and the scan was dead-lettered
    within a minute; now it waits (120 s between tries) and stores everything once space is back."""
    clock = ManualClock()
    stack.sim.clock = clock.now
    order = stack.sim.add_order(size=10_000)
    disk = DiskFull(clock, until=1200.0)  # someone frees space after 20 minutes
    async with _worker(stack, clock, disk):
        await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
        events = await collect(stack.bus, [stack.topics.artifacts],
                               lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    assert clock.now() >= 1200.0 and disk.refused >= 2
    assert not of_type(events, ARTIFACT_FAILED)
    letters = await collect(stack.bus, [stack.topics.deadletter], lambda ev: True, timeout=5.0)
    assert letters == []
    assert _parts(stack.settings.storage.root) == []


async def test_a_disk_that_stays_full_is_waited_for_its_whole_deadline_before_the_dead_letter(
    stack: Stack,
) -> None:
    clock = ManualClock()
    stack.sim.clock = clock.now
    order = stack.sim.add_order(size=10_000)
    disk = DiskFull(clock, until=float("inf"))
    async with _worker(stack, clock, disk):
        await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
        letters: list[Envelope] = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    failed = await collect(stack.bus, [stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_FAILED)) >= 2)
    assert all("last: artifact store full: ENOSPC" in e.json_data()["reason"]
               for e in of_type(failed, ARTIFACT_FAILED))
    # each artifact waited for the whole deadline (an hour here, six by default), one after the other
    assert clock.now() >= 2 * (PATIENT_RETRY.storage_full_for_s - PATIENT_RETRY.max_delay_s)
    assert "artifact store full: ENOSPC" in letters[0].json_data()["reason"]
    assert _parts(stack.settings.storage.root) == []
