"""Each connection's health, whatever its vendor: when a vendor call last succeeded, the last error, and
since when the connection has been failing (`scanbridge connections` shows it), kept in the state store
(`Connections.record_success` / `record_failure`) so every process and host sees the same.

Writes are spared: a change of state (ok ↔ failing, another error) is written at once, a repeat of the
same state at most every `REWRITE_S` seconds per process.

Only failures of the connection count (refused credentials, an untrusted server, the vendor down or
throttling us until we gave up); a vendor answer about one order (404, a bad checksum) is not one.
The pollers record each round; the worker records each order it handled or lost to the connection.
A failing call never hides an un-paired connection or one that needs re-authorization.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from consumers.errors import ServerError, Throttled, Unauthorized
from consumers.retry import RetriesExhausted
from state.base import ConnectionKey, Connections, Health

REWRITE_S = 30.0
MAX_ERROR_CHARS = 300


def label(health: Health) -> str:
    """ok, failing, unpaired, needs_reauthorization — or unknown when no call was recorded yet."""
    if health.status != "active":
        return health.status
    return "ok" if health.last_success_at is not None else "unknown"


def is_connection_failure(error: BaseException) -> bool:
    """Refused credentials (a 401 a refresh did not cure), or the vendor unreachable, failing or
    throttling us until the retries gave up. (An untrusted 3Shape server is reported by its poller.)"""
    if isinstance(error, RetriesExhausted):
        error = error.last
    return isinstance(error, Unauthorized | ServerError | Throttled)


class HealthBook:
    """Records the health of connections in the state store, sparing repeated writes."""

    def __init__(self, connections: Connections, *, rewrite_s: float = REWRITE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._connections = connections
        self._rewrite_s = rewrite_s
        self._clock = clock
        self._written: dict[ConnectionKey, tuple[str, str | None, float]] = {}  # status, error, when

    def _spared(self, key: ConnectionKey, status: str, error: str | None) -> bool:
        last = self._written.get(key)
        now = self._clock()
        if last is not None and last[:2] == (status, error) and now - last[2] < self._rewrite_s:
            return True
        self._written[key] = (status, error, now)
        return False

    async def ok(self, key: ConnectionKey, at: datetime | None = None) -> None:
        if not self._spared(key, "ok", None):
            await self._connections.record_success(key, at or datetime.now(UTC))

    async def error(self, key: ConnectionKey, error: BaseException | str, at: datetime | None = None) -> None:
        """`error` as text: its type and message (vendor errors name the call, never a query or secret)."""
        text = (error if isinstance(error, str) else f"{type(error).__name__}: {error}")[:MAX_ERROR_CHARS]
        if not self._spared(key, "failing", text):
            await self._connections.record_failure(key, "failing", text, at or datetime.now(UTC))

    async def read(self, key: ConnectionKey) -> Health:
        return await self._connections.health(key)
