"""Artifact markers: what was announced, per order version and file, recorded once (put-if-absent), so
a redelivered or duplicated order never announces an artifact twice, whichever host handles it."""

from __future__ import annotations

from state.base import Marker, MarkerKey
from state.codec import dumps, loads
from state.db import Database, from_ms


class SqlMarkers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def put_if_absent(self, marker: Marker) -> bool:
        k = marker.key
        async with self._db.transaction() as tx:
            now = await tx.now_ms()
            return await tx.execute(
                "INSERT INTO markers (vendor, account, order_id, version, file, data, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (vendor, account, order_id, version, file) DO NOTHING",
                k.vendor, k.account, k.order, k.version, k.file, dumps(dict(marker.data)), now,
            ) > 0

    async def get(self, key: MarkerKey) -> Marker | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT data, created_ms FROM markers "
                "WHERE vendor = ? AND account = ? AND order_id = ? AND version = ? AND file = ?",
                key.vendor, key.account, key.order, key.version, key.file,
            )
        if not rows:
            return None
        owner = f"{key.vendor}/{key.account} (order {key.order})"
        return Marker(key, loads(rows[0][0], f"marker of {key.file!r}", owner), from_ms(rows[0][1]))
