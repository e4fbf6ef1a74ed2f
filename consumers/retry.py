"""Retry one vendor step with backoff until its kind's deadline (itero-dpms-api.txt Download Scan: 404 →
retry after 1–2 min; Align guideline §3.7.2, §3.9).

Written here rather than with stamina because the deadline depends on the error kind (a 404
not-ready may last half an hour, a 5xx storm less), the vendor's Retry-After must win, the attempt
history goes into dead letters, and tests drive it with a `ManualClock` instead of real sleeps.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from consumers.clock import Clock
from consumers.errors import NotReady, RetryableError, StorageFull
from consumers.metrics import RETRIES
from schemas.settings import RetrySettings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Attempts:
    """What was tried and how it failed, for logs and dead letters."""

    history: list[tuple[datetime, str]] = field(default_factory=list)

    def add(self, error: BaseException) -> None:
        self.history.append((datetime.now(UTC), f"{type(error).__name__}: {error}"))

    def record(self, error: BaseException) -> None:
        """Add a final failure. One that carries the attempts made inside it (`RetriesExhausted`,
        `ArtifactsFailed`) adds those instead, so a dead letter's attempts agree with its reason."""
        carried = (error.attempts.history if isinstance(error, RetriesExhausted)
                   else getattr(error, "history", None))
        if carried is self.history:
            return  # retried in this very history: its attempts are here already
        if carried:
            self.history.extend(carried)
        else:
            self.add(error)

    def __len__(self) -> int:
        return len(self.history)


class RetriesExhausted(Exception):
    def __init__(self, what: str, last: RetryableError, attempts: Attempts) -> None:
        super().__init__(f"{what}: gave up after {len(attempts)} attempts; last: {last}")
        self.last = last
        self.attempts = attempts


def backoff(attempt: int, policy: RetrySettings) -> float:
    """Exponential with full jitter in its upper half: attempt 1 → ~initial, capped at max."""
    base = min(policy.max_delay_s, policy.initial_delay_s * (2 ** max(0, attempt - 1)))
    return base * random.uniform(0.5, 1.0)


def deadline(error: RetryableError, policy: RetrySettings) -> float:
    """How long an error of this kind is retried: not-ready and a full disk last longer than a 5xx storm."""
    if isinstance(error, NotReady):
        return policy.not_ready_for_s
    if isinstance(error, StorageFull):
        return policy.storage_full_for_s
    return policy.server_error_for_s


def delay_after(error: RetryableError, attempt: int, policy: RetrySettings) -> float:
    """The wait before the next attempt; a full disk waits the longest backoff from the first attempt on
    (space comes back when a person frees it, not in seconds), and a vendor's Retry-After wins."""
    delay = backoff(attempt, policy)
    if isinstance(error, StorageFull):
        delay = max(delay, policy.max_delay_s)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return delay


async def retrying(
    step: Callable[[], Awaitable[T]],
    *,
    policy: RetrySettings,
    clock: Clock,
    what: str,
    attempts: Attempts | None = None,
    retry_on: type[RetryableError] = RetryableError,
) -> T:
    """Run `step` until it succeeds; errors of `retry_on` are retried until their kind's deadline."""
    attempts = attempts if attempts is not None else Attempts()
    started = clock.now()
    while True:
        try:
            return await step()
        except retry_on as exc:
            attempts.add(exc)
            limit = deadline(exc, policy)
            delay = delay_after(exc, len(attempts), policy)
            if clock.now() + delay - started > limit:
                raise RetriesExhausted(what, exc, attempts) from exc
            RETRIES.labels(type(exc).__name__).inc()
            log.info("retrying %s in %.1fs (attempt %d): %s", what, delay, len(attempts), type(exc).__name__)
            await clock.sleep(delay)
