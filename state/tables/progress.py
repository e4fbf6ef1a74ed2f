"""What pollers and workers remember per connection: versioned JSON entries (cursors, poll state),
string maps (last-seen versions, the iTero OrderId → Rx index) and ordered sets (3Shape watch sets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from state.base import ConnectionKey, Entry, Lease
from state.codec import dumps, loads
from state.db import Database, check_fence, to_ms
from state.errors import VersionConflict

CHUNK = 500  # items per `IN (…)`: below SQLite's and PostgreSQL's parameter limits


class SqlEntries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self, key: ConnectionKey) -> dict[str, Entry]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT name, value, version FROM entries WHERE vendor = ? AND conn = ?",
                                  key.vendor, key.id)
        return {name: Entry(loads(value, f"{name!r}", key), int(version)) for name, value, version in rows}

    async def get(self, key: ConnectionKey, name: str) -> Entry | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT value, version FROM entries WHERE vendor = ? AND conn = ? AND name = ?",
                key.vendor, key.id, name)
        if not rows:
            return None
        return Entry(loads(rows[0][0], f"{name!r}", key), int(rows[0][1]))

    async def put(
        self, key: ConnectionKey, name: str, value: Any, *, if_version: int | None = None,
        fence: Lease | None = None,
    ) -> int:
        text = dumps(value)
        async with self._db.transaction() as tx:
            await check_fence(tx, self._db.for_share, key, fence)
            if if_version == 0:
                rows = await tx.fetch(
                    "INSERT INTO entries (vendor, conn, name, value, version) VALUES (?, ?, ?, ?, 1) "
                    "ON CONFLICT (vendor, conn, name) DO NOTHING RETURNING version",
                    key.vendor, key.id, name, text)
            elif if_version is None:
                rows = await tx.fetch(
                    "INSERT INTO entries (vendor, conn, name, value, version) VALUES (?, ?, ?, ?, 1) "
                    "ON CONFLICT (vendor, conn, name) DO UPDATE SET value = excluded.value, "
                    "version = entries.version + 1 RETURNING version", key.vendor, key.id, name, text)
            else:
                rows = await tx.fetch(
                    "UPDATE entries SET value = ?, version = version + 1 "
                    "WHERE vendor = ? AND conn = ? AND name = ? AND version = ? RETURNING version",
                    text, key.vendor, key.id, name, if_version)
        if not rows:
            raise VersionConflict(f"{name!r} of connection {key} changed since version {if_version}")
        return int(rows[0][0])

    async def delete(self, key: ConnectionKey, name: str, *, fence: Lease | None = None) -> bool:
        async with self._db.transaction() as tx:
            await check_fence(tx, self._db.for_share, key, fence)
            return await tx.execute("DELETE FROM entries WHERE vendor = ? AND conn = ? AND name = ?",
                                    key.vendor, key.id, name) > 0


class SqlMaps:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: ConnectionKey, name: str, items: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(items))
        found: dict[str, str] = {}
        async with self._db.transaction(write=False) as tx:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start:start + CHUNK]
                marks = ", ".join("?" * len(chunk))
                rows = await tx.fetch(
                    f"SELECT item, value FROM map_items WHERE vendor = ? AND conn = ? AND map = ? "
                    f"AND item IN ({marks})", key.vendor, key.id, name, *chunk)
                found.update((str(item), str(value)) for item, value in rows)
        return found

    async def items(self, key: ConnectionKey, name: str) -> dict[str, str]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT item, value FROM map_items WHERE vendor = ? AND conn = ? AND map = ? ORDER BY item",
                key.vendor, key.id, name)
        return {str(item): str(value) for item, value in rows}

    async def put(
        self, key: ConnectionKey, name: str, items: Mapping[str, str], *, fence: Lease | None = None
    ) -> None:
        async with self._db.transaction() as tx:
            await check_fence(tx, self._db.for_share, key, fence)
            if not items:
                return
            now = await tx.now_ms()
            await tx.execute_many(
                "INSERT INTO map_items (vendor, conn, map, item, value, updated_ms) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (vendor, conn, map, item) "
                "DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
                [(key.vendor, key.id, name, item, value, now) for item, value in items.items()],
            )

    async def prune(
        self, key: ConnectionKey, name: str, before: datetime, *, fence: Lease | None = None
    ) -> int:
        async with self._db.transaction() as tx:
            await check_fence(tx, self._db.for_share, key, fence)
            return await tx.execute(
                "DELETE FROM map_items WHERE vendor = ? AND conn = ? AND map = ? AND updated_ms < ?",
                key.vendor, key.id, name, to_ms(before))


class SqlSets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def members(self, key: ConnectionKey, name: str) -> list[str]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT member FROM set_members WHERE vendor = ? AND conn = ? AND name = ? "
                                  "ORDER BY seq, member", key.vendor, key.id, name)
        return [str(row[0]) for row in rows]

    async def add(self, key: ConnectionKey, name: str, members: Iterable[str]) -> list[str]:
        added: list[str] = []
        async with self._db.transaction() as tx:
            rows = await tx.fetch("SELECT COALESCE(MAX(seq), 0) FROM set_members "
                                  "WHERE vendor = ? AND conn = ? AND name = ?", key.vendor, key.id, name)
            seq = int(rows[0][0])
            for member in dict.fromkeys(members):
                seq += 1
                if await tx.execute(
                    "INSERT INTO set_members (vendor, conn, name, member, seq) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (vendor, conn, name, member) DO NOTHING",
                    key.vendor, key.id, name, member, seq,
                ):
                    added.append(member)
        return added

    async def remove(self, key: ConnectionKey, name: str, members: Iterable[str]) -> list[str]:
        removed: list[str] = []
        async with self._db.transaction() as tx:
            for member in dict.fromkeys(members):
                if await tx.execute("DELETE FROM set_members WHERE vendor = ? AND conn = ? AND name = ? "
                                    "AND member = ?", key.vendor, key.id, name, member):
                    removed.append(member)
        return removed
