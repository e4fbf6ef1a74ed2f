"""What the SQL of the state store needs from a database backend, and the parts both backends share.

The stores in `state/tables/` are written once in the SQL both SQLite and PostgreSQL speak (`?`
placeholders, `INSERT … ON CONFLICT`, `RETURNING`); a backend gives transactions, its clock, its row
locks and an exclusive section per name (the single-flight token refresh).
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

from state.base import ConnectionKey, Lease
from state.errors import StaleLease

Row = tuple[Any, ...]


class Tx(Protocol):
    """One open transaction."""

    async def fetch(self, sql: str, *params: object) -> list[Row]: ...

    async def execute(self, sql: str, *params: object) -> int:
        """Run one statement; returns the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: list[tuple[object, ...]]) -> None: ...

    async def now_ms(self) -> int:
        """The store's clock, in epoch milliseconds (leases and expiries are judged by it)."""
        ...


class Session(Protocol):
    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        """`write=False`: reads whose statements need not see one snapshot (each may run on its own)."""
        ...


class Database(Session, Protocol):
    for_update: str  # the row-lock clause a SELECT needs inside a write transaction ("" on SQLite)
    for_share: str

    async def open(self) -> None:
        """Connect and apply the migrations not yet applied."""
        ...

    async def close(self) -> None: ...

    def exclusive(self, name: str) -> AbstractAsyncContextManager[Session]:
        """A section that one holder at a time enters, across processes (and hosts, where the backend
        reaches several); transactions of the section go through the session it yields."""
        ...


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(backend: str) -> list[Migration]:
    """The numbered SQL files of `state/migrations/<backend>/` (`0001_initial.sql`, …), in order."""
    found: list[Migration] = []
    for item in resources.files("state").joinpath("migrations", backend).iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], item.read_text()))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"state migrations of {backend} are not numbered 1, 2, 3, …")
    return found


def to_ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


async def check_fence(tx: Tx, share: str, key: ConnectionKey, fence: Lease | None) -> None:
    """Refuse a write by a lease holder whose lease changed hands since (a higher token exists).

    The lease row stays locked (shared) until the write commits, so no one takes it in between.
    """
    if fence is None:
        return
    if fence.key != key:
        raise ValueError(f"the lease of {fence.key} cannot fence a write to {key}")
    rows = await tx.fetch(
        f"SELECT owner, token FROM leases WHERE vendor = ? AND conn = ?{share}", key.vendor, key.id
    )
    if not rows or rows[0][0] != fence.owner or rows[0][1] != fence.token:
        raise StaleLease(f"lease of connection {key} (token {fence.token}) was taken over; write refused")
