"""Each connection's health, whatever its vendor: when a vendor call last succeeded, the last error, and
since when the connection has been failing (`scanbridge connections` shows it).

Kept beside the connection states, in `state_dir/connections/health/<vendor>-<id>.json` (atomic
writes), behind `record_ok`, `record_error` and `read` only, so it can move into the state store.
Writes are spared: a change of state (ok ↔ failing, another error) is written at once, a repeat of the
same state at most every `REWRITE_S` seconds per process.

Only failures of the connection count (refused credentials, an untrusted server, the vendor down or
throttling us until we gave up); a vendor answer about one order (404, a bad checksum) is not one.
The pollers record each round; the worker records each order it handled or lost to the connection.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from consumers.cursor import JsonState
from consumers.errors import ServerError, Throttled, Unauthorized
from consumers.records import as_utc
from consumers.retry import RetriesExhausted
from consumers.storage import safe_component

REWRITE_S = 30.0
MAX_ERROR_CHARS = 300
_written: dict[Path, tuple[Health, float]] = {}  # what this process last wrote, and when (monotonic)


@dataclass(frozen=True)
class Health:
    last_ok_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = None
    failing_since: datetime | None = None  # the first error after the last success

    @property
    def status(self) -> str:
        if self.failing_since is not None:
            return "failing"
        return "ok" if self.last_ok_at is not None else "unknown"


def _path(state_dir: Path, vendor: str, connection: str) -> Path:
    return state_dir / "connections" / "health" / f"{vendor}-{safe_component(connection)}.json"


def read(state_dir: Path, vendor: str, connection: str) -> Health:
    data = JsonState(_path(state_dir, vendor, connection)).load()
    error = data.get("last_error")
    return Health(as_utc(data.get("last_ok_at")), as_utc(data.get("last_error_at")),
                  str(error) if error is not None else None, as_utc(data.get("failing_since")))


def is_connection_failure(error: BaseException) -> bool:
    """Refused credentials (a 401 a refresh did not cure), or the vendor unreachable, failing or
    throttling us until the retries gave up. (An untrusted 3Shape server is reported by its poller.)"""
    if isinstance(error, RetriesExhausted):
        error = error.last
    return isinstance(error, Unauthorized | ServerError | Throttled)


def record_ok(state_dir: Path, vendor: str, connection: str, at: datetime | None = None) -> None:
    before = _current(state_dir, vendor, connection)
    _write(state_dir, vendor, connection, before,
           replace(before, last_ok_at=at or datetime.now(UTC), failing_since=None))


def record_error(state_dir: Path, vendor: str, connection: str, error: BaseException | str,
                 at: datetime | None = None) -> None:
    """`error` as text: its type and message (vendor errors name the call, never a query or secret)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    when = at or datetime.now(UTC)
    before = _current(state_dir, vendor, connection)
    _write(state_dir, vendor, connection, before,
           replace(before, last_error_at=when, last_error=text[:MAX_ERROR_CHARS],
                   failing_since=before.failing_since or when))


def _current(state_dir: Path, vendor: str, connection: str) -> Health:
    cached = _written.get(_path(state_dir, vendor, connection))
    return cached[0] if cached else read(state_dir, vendor, connection)


def _write(state_dir: Path, vendor: str, connection: str, before: Health, after: Health) -> None:
    path = _path(state_dir, vendor, connection)
    cached = _written.get(path)
    same_state = (before.status, before.last_error) == (after.status, after.last_error)
    if same_state and cached is not None and time.monotonic() - cached[1] < REWRITE_S:
        _written[path] = (after, cached[1])  # in memory only; the file says the same, a little older
        return
    JsonState(path).save({k: v.isoformat() if isinstance(v, datetime) else v
                          for k, v in asdict(after).items()})
    _written[path] = (after, time.monotonic())
