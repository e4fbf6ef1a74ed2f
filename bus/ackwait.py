"""Wait for a publish's acknowledgements within the bus's deadline, one timer for every publish (issue 16).

`asyncio.timeout` around the wait cost ~5.5 µs per publish on uvloop (a `Timeout` object and a timer handle
made and cancelled each time); a webhook waits once per request. Every publish of a bus waits the same
`ack_timeout_s`, so the deadlines come in the order the waits began: one timer, set for the oldest deadline
still waiting, fails each wait whose deadline has passed with TimeoutError (~2.5 µs per wait in all).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any


class AckWaits:
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._waits: deque[tuple[float, asyncio.Future[None]]] = deque()  # (deadline, wait), oldest first
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def wait(self, futures: Sequence[asyncio.Future[Any]]) -> None:
        """Return once every future is done, or as soon as one failed or was cancelled (their outcomes are
        the caller's to read); raise TimeoutError when the deadline comes first."""
        pending = [future for future in futures if not future.done()]
        if not pending or (len(pending) < len(futures) and any(
                f.cancelled() or f.exception() is not None for f in futures if f.done())):
            return
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        left = len(pending)

        def one_done(future: asyncio.Future[Any]) -> None:
            nonlocal left
            left -= 1
            if not done.done() and (left == 0 or future.cancelled() or future.exception() is not None):
                done.set_result(None)

        for future in pending:
            future.add_done_callback(one_done)
        self._track(loop, done)
        await done  # a future still pending after a failure or the deadline calls `one_done` in vain

    def _track(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
        if loop is not self._loop:  # a bus used from another loop (tests): that loop's timer is gone
            self._loop, self._timer = loop, None
            self._waits.clear()
        waits = self._waits
        while waits and waits[0][1].done():
            waits.popleft()
        waits.append((loop.time() + self._timeout_s, done))
        if self._timer is None:
            self._timer = loop.call_at(waits[0][0], self._expire)

    def _expire(self) -> None:
        assert self._loop is not None
        self._timer = None
        now, waits = self._loop.time(), self._waits
        while waits and (waits[0][0] <= now or waits[0][1].done()):
            _, done = waits.popleft()
            if not done.done():
                done.set_exception(TimeoutError())
        if waits:
            self._timer = self._loop.call_at(waits[0][0], self._expire)
