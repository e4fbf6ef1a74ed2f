"""Artifact markers: what was announced, per order version and file, recorded once (put-if-absent), so
a redelivered or duplicated order never announces an artifact twice, whichever host handles it. A marker
of an artifact names its id (the artifact route finds it by that); retention prunes by age."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from state.base import Marker, MarkerKey
from state.codec import dumps, loads
from state.db import Database, Row, from_ms, to_ms

_COLUMNS = "vendor, account, order_id, version, file, data, created_ms, artifact_id"


def _marker(row: Row) -> Marker:
    key = MarkerKey(*row[:5])
    owner = f"{key.vendor}/{key.account} (order {key.order}, version {key.version})"
    return Marker(key, loads(row[5], f"marker of {key.file!r}", owner), from_ms(row[6]), row[7])


class SqlMarkers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put_if_absent(self, marker: Marker) -> bool:
        k = marker.key
        async with self._db.transaction() as tx:
            now = await tx.now_ms()
            return await tx.execute(
                f"INSERT INTO markers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (vendor, account, order_id, version, file) DO NOTHING",
                k.vendor, k.account, k.order, k.version, k.file, dumps(dict(marker.data)), now,
                marker.artifact_id,
            ) > 0

    async def get(self, key: MarkerKey) -> Marker | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM markers "
                "WHERE vendor = ? AND account = ? AND order_id = ? AND version = ? AND file = ?",
                key.vendor, key.account, key.order, key.version, key.file,
            )
        return _marker(rows[0]) if rows else None

    async def get_files(self, key: MarkerKey, files: Sequence[str]) -> dict[str, Marker]:
        marks = ", ".join("?" for _ in files)
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM markers "
                f"WHERE vendor = ? AND account = ? AND order_id = ? AND version = ? AND file IN ({marks})",
                key.vendor, key.account, key.order, key.version, *files,
            )
        return {marker.key.file: marker for marker in map(_marker, rows)}

    async def find(self, artifact_id: str) -> Marker | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(f"SELECT {_COLUMNS} FROM markers WHERE artifact_id = ? "
                                  "ORDER BY created_ms LIMIT 1", artifact_id)
        return _marker(rows[0]) if rows else None

    async def latest(self, vendor: str, account: str, order: str, file: str) -> Marker | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                f"SELECT {_COLUMNS} FROM markers WHERE vendor = ? AND account = ? AND order_id = ? "
                "AND file = ? ORDER BY created_ms DESC, version DESC LIMIT 1", vendor, account, order, file)
        return _marker(rows[0]) if rows else None

    async def aged(self, before: datetime) -> tuple[int, int]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM markers "
                                  "WHERE created_ms < ?", to_ms(before))
        return int(rows[0][0]), int(rows[0][1])

    async def prune(self, before: datetime) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM markers WHERE created_ms < ?", to_ms(before))
