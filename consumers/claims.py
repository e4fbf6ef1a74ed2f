"""One worker at a time per order, across processes and hosts (issue 12 item 7, DESIGN.md §7 Ownership).

Before a worker handles an order (the events of one partition key) it takes the order's claim in the
state store (`state/tables/claims.py`) and keeps it renewed every third of `worker.claim_ttl_s`. Another
worker handling the same order — a consumer-group rebalance handed the partition over while the first
one was still at work, or a redelivery after a crash — waits until the claim is released or lapses: it
never skips the order (its offset must not be committed unhandled). The work of a worker that loses its
claim (renewal refused, or not renewed within the TTL) is cancelled: nothing more is announced, the
offset is not committed, `StaleLease` is raised and the worker takes the order up again later.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from consumers.clock import Clock
from state.base import Claim, Claims
from state.errors import StaleLease, StateError

log = logging.getLogger(__name__)

T = TypeVar("T")
WAIT_FIRST_S = 0.05  # the first pause of a worker waiting for another's claim; doubles up to WAIT_MAX_S
WAIT_MAX_S = 1.0


def owner_name() -> str:
    """This worker among all hosts: host, process, and a random part (two workers in one process)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


class OrderClaims:
    def __init__(self, claims: Claims, ttl_s: float, clock: Clock, owner: str | None = None) -> None:
        self._claims = claims
        self._ttl_s = ttl_s
        self._clock = clock
        self.owner = owner or owner_name()
        self.waited = 0  # how many times an order waited for another worker's claim (tests read it)

    async def run(self, name: str, work: Callable[[], Awaitable[T]]) -> T:
        """`work()` while holding the claim of `name`; StaleLease (work cancelled) if it is lost meanwhile."""
        claim = await self._take(name)
        job = asyncio.ensure_future(work())
        keeper = asyncio.ensure_future(self._keep(claim))
        try:
            await asyncio.wait({job, keeper}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():  # the keeper ended first: the claim is lost
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
                keeper.result()  # raises StaleLease
            return job.result()
        finally:
            for task in (job, keeper):
                task.cancel()
            await asyncio.gather(job, keeper, return_exceptions=True)
            await self._release(claim)

    async def _take(self, name: str) -> Claim:
        pause = WAIT_FIRST_S
        waited = False
        while (claim := await self._claims.acquire(name, self.owner, self._ttl_s)) is None:
            if not waited:
                waited = True
                self.waited += 1
                log.info("order %s is being handled by another worker: waiting for its claim", name)
            await self._clock.sleep(pause)
            pause = min(pause * 2, WAIT_MAX_S)
        return claim

    async def _keep(self, claim: Claim) -> None:
        """Renew every third of the TTL; return only by raising StaleLease when the claim is lost."""
        held_until = self._clock.now() + self._ttl_s  # on this host's clock, from before the last renewal
        while True:
            await self._clock.sleep(self._ttl_s / 3)
            started = self._clock.now()
            try:
                claim = await self._claims.renew(claim, self._ttl_s)
                held_until = started + self._ttl_s
            except StaleLease:
                log.warning("claim of order %s was taken over: its work is cancelled", claim.name)
                raise
            except StateError as exc:
                if self._clock.now() >= held_until:
                    log.warning("claim of order %s not renewed within its TTL (%s): its work is cancelled",
                                claim.name, type(exc).__name__)
                    raise StaleLease(f"claim {claim.name!r} lapsed: the state store did not answer") from exc
                log.warning("claim of order %s not renewed, trying again: %s", claim.name, type(exc).__name__)

    async def _release(self, claim: Claim) -> None:
        try:
            await asyncio.shield(self._claims.release(claim))
        except (StateError, asyncio.CancelledError) as exc:  # it lapses by itself within the TTL
            log.warning("claim of order %s not released: %s", claim.name, type(exc).__name__)
