"""The acknowledgement wait of a publish (bus/ackwait.py): done, failed early, or timed out by the one timer
shared by every wait of a bus."""

from __future__ import annotations

import asyncio

import pytest

from bus.ackwait import AckWaits


async def test_a_wait_returns_once_every_future_is_done() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    waiting = asyncio.create_task(AckWaits(30).wait([first, second]))
    first.set_result(1)
    await asyncio.sleep(0)
    assert not waiting.done()
    second.set_result(2)
    await waiting


async def test_a_wait_returns_as_soon_as_one_future_failed() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    waiting = asyncio.create_task(AckWaits(30).wait([first, second]))
    second.set_exception(OSError("refused"))
    await waiting  # the caller reads the outcomes
    assert not first.done()
    already_failed = loop.create_future()
    already_failed.set_exception(OSError("refused"))
    await AckWaits(30).wait([loop.create_future(), already_failed])


async def test_each_wait_times_out_at_its_own_deadline_with_one_timer() -> None:
    loop = asyncio.get_running_loop()
    waits = AckWaits(0.2)
    answered, unanswered = loop.create_future(), loop.create_future()
    early = asyncio.create_task(waits.wait([answered]))
    await asyncio.sleep(0.1)
    late = asyncio.create_task(waits.wait([unanswered]))
    await asyncio.sleep(0)
    answered.set_result(None)
    await early
    with pytest.raises(TimeoutError):
        await late  # the timer set for the first wait's deadline moved on to the second's
    assert not unanswered.done()


def test_a_bus_used_from_a_new_loop_still_times_out() -> None:
    waits = AckWaits(0.05)

    async def abandoned() -> None:
        task = asyncio.create_task(waits.wait([asyncio.get_running_loop().create_future()]))
        await asyncio.sleep(0)
        task.cancel()

    async def never_answered() -> BaseException | None:
        task = asyncio.create_task(waits.wait([asyncio.get_running_loop().create_future()]))
        await asyncio.wait([task], timeout=10)  # a bound on a hang, not a measurement
        return task.exception() if task.done() else None

    asyncio.run(abandoned())  # its loop ends with the timer of that loop still set
    assert isinstance(asyncio.run(never_answered()), TimeoutError)
