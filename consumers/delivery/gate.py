"""The endpoint's gate: while it answers, deliveries of different keys go at once; after a failure one
probe at a time waits out the backoff (the endpoint's Retry-After when it gave one), and the first success
opens the gate again. So an endpoint that is down gets one request per backoff step, not one per key."""

from __future__ import annotations

import asyncio
import random

from schemas.delivery import DeliverySettings


class Gate:
    def __init__(self, settings: DeliverySettings) -> None:
        self._settings = settings
        self.failures = 0
        self._not_before = 0.0
        self._probe = asyncio.Lock()

    def delay(self, retry_after: float | None) -> float:
        if retry_after is not None:  # the endpoint said when: honoured, within max_retry_after_s
            return min(retry_after, self._settings.max_retry_after_s)
        step = self._settings.initial_delay_s * 2 ** min(self.failures - 1, 30)
        return min(self._settings.max_delay_s, step) * random.uniform(0.8, 1.0)

    async def enter(self) -> bool:
        """Wait for a turn; True when this caller holds the probe (give it back with `leave`)."""
        while self.failures:
            await self._probe.acquire()
            if not self.failures:  # a probe succeeded meanwhile: the gate is open
                self._probe.release()
                break
            wait = self._not_before - asyncio.get_running_loop().time()
            if wait > 0:
                try:
                    await asyncio.sleep(wait)
                except BaseException:
                    self._probe.release()
                    raise
            return True
        return False

    def leave(self, probing: bool) -> None:
        if probing:
            self._probe.release()

    def failed(self, retry_after: float | None) -> float:
        self.failures += 1
        wait = self.delay(retry_after)
        self._not_before = asyncio.get_running_loop().time() + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self._not_before = 0.0
