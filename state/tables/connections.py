"""Connections (seeded from the TOML, changed at run time) and their health (DESIGN.md §7).

A connection's settings carry its secrets (webhook tokens, client secrets), so they are sealed like
credentials. Every change bumps one store-wide revision that running processes poll to notice it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from state.base import Connection, ConnectionKey, FailureStatus, Health, Status
from state.codec import seal, unseal
from state.db import Database, Tx, from_ms, to_ms
from state.errors import CorruptState
from state.seal import Sealer

MAX_ERROR_CHARS = 500
_STATUSES: tuple[Status, ...] = ("active", "failing", "unpaired", "needs_reauthorization")
_NEEDS_PEOPLE = ("unpaired", "needs_reauthorization")  # only a success or a reset ends these


async def _bump_revision(tx: Tx) -> int:
    rows = await tx.fetch(
        "UPDATE meta SET value = value + 1 WHERE name = 'connections_revision' RETURNING value"
    )
    return int(rows[0][0])


class SqlConnections:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    def _connection(self, vendor: str, conn: str, source: str, sealed: str, revision: int) -> Connection:
        key = ConnectionKey(vendor, conn)
        settings = unseal(self._sealer, sealed, "settings", key)
        if not isinstance(settings, dict):
            raise CorruptState(f"settings of connection {key} are not an object")
        return Connection(key, settings, "toml" if source == "toml" else "runtime", int(revision))

    async def put(self, connection: Connection, *, only_if_absent: bool = False) -> bool:
        key = connection.key
        sealed = seal(self._sealer, dict(connection.settings))
        async with self._db.transaction() as tx:
            if only_if_absent:
                found = await tx.fetch("SELECT 1 FROM connections WHERE vendor = ? AND conn = ?",
                                       key.vendor, key.id)
                if found:
                    return False
            revision = await _bump_revision(tx)
            await tx.execute(
                "INSERT INTO connections (vendor, conn, source, sealed, revision) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (vendor, conn) DO UPDATE SET source = excluded.source, "
                "sealed = excluded.sealed, revision = excluded.revision",
                key.vendor, key.id, connection.source, sealed, revision,
            )
        return True

    async def get(self, key: ConnectionKey) -> Connection | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT vendor, conn, source, sealed, revision FROM connections "
                "WHERE vendor = ? AND conn = ?",
                key.vendor, key.id,
            )
        return self._connection(*rows[0]) if rows else None

    async def list(self, vendor: str | None = None) -> list[Connection]:
        sql = "SELECT vendor, conn, source, sealed, revision FROM connections"
        async with self._db.transaction(write=False) as tx:
            if vendor is None:
                rows = await tx.fetch(f"{sql} ORDER BY vendor, conn")
            else:
                rows = await tx.fetch(f"{sql} WHERE vendor = ? ORDER BY conn", vendor)
        return [self._connection(*row) for row in rows]

    async def remove(self, key: ConnectionKey) -> bool:
        async with self._db.transaction() as tx:
            removed = await tx.execute("DELETE FROM connections WHERE vendor = ? AND conn = ?",
                                       key.vendor, key.id)
            for table in ("health", "credentials"):
                await tx.execute(f"DELETE FROM {table} WHERE vendor = ? AND conn = ?",
                                 key.vendor, key.id)
            if removed:
                await _bump_revision(tx)
        return removed > 0

    async def revision(self) -> int:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT value FROM meta WHERE name = 'connections_revision'")
        return int(rows[0][0])

    async def health(self, key: ConnectionKey) -> Health:
        async with self._db.transaction(write=False) as tx:
            return await self._health(tx, key, lock="")

    async def _health(self, tx: Tx, key: ConnectionKey, lock: str) -> Health:
        rows = await tx.fetch(
            "SELECT status, last_success_ms, last_error_ms, last_error, failing_since_ms FROM health "
            f"WHERE vendor = ? AND conn = ?{lock}", key.vendor, key.id,
        )
        if not rows:
            return Health()
        status, success, error_at, error, since = rows[0]
        return Health(cast(Status, status) if status in _STATUSES else "failing",
                      from_ms(success), from_ms(error_at), error, from_ms(since))

    async def _write(self, tx: Tx, key: ConnectionKey, health: Health) -> None:
        await tx.execute(
            "INSERT INTO health (vendor, conn, status, last_success_ms, last_error_ms, last_error, "
            "failing_since_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vendor, conn) DO UPDATE SET "
            "status = excluded.status, last_success_ms = excluded.last_success_ms, "
            "last_error_ms = excluded.last_error_ms, last_error = excluded.last_error, "
            "failing_since_ms = excluded.failing_since_ms",
            key.vendor, key.id, health.status, to_ms(health.last_success_at), to_ms(health.last_error_at),
            health.last_error, to_ms(health.failing_since),
        )

    async def record_success(self, key: ConnectionKey, at: datetime | None = None) -> bool:
        when = at or datetime.now(UTC)
        async with self._db.transaction() as tx:
            before = await self._health(tx, key, self._db.for_update)
            after = Health("active", when, before.last_error_at, before.last_error, None)
            if after != before:
                await self._write(tx, key, after)
        return before.status != "active"

    async def record_failure(
        self, key: ConnectionKey, status: FailureStatus, error: str, at: datetime | None = None
    ) -> bool:
        when = at or datetime.now(UTC)
        async with self._db.transaction() as tx:
            before = await self._health(tx, key, self._db.for_update)
            since = before.failing_since if before.status != "active" and before.failing_since else when
            kept: Status = before.status if status == "failing" and before.status in _NEEDS_PEOPLE else status
            after = Health(kept, before.last_success_at, when, error[:MAX_ERROR_CHARS], since)
            await self._write(tx, key, after)
        return before.status != kept

    async def clear_health(self, key: ConnectionKey) -> bool:
        async with self._db.transaction() as tx:
            removed = await tx.execute("DELETE FROM health WHERE vendor = ? AND conn = ?", key.vendor, key.id)
        return removed > 0
