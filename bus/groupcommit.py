"""Group commit for the local log: publishes that arrive together share one transaction and one fsync.

Each caller still returns only after its own row is durable; a batch is at most `MAX_BATCH` rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING

from bus.errors import BusUnavailable

if TYPE_CHECKING:
    from bus.local import Store

MAX_BATCH = 512
Row = tuple[str, bytes | None, bytes, str]  # topic, key, value, headers (JSON)


def append_many(conn: sqlite3.Connection, rows: list[Row]) -> list[Exception | None]:
    """Append rows in one transaction; a row for a topic that does not exist fails alone."""
    outcomes: list[Exception | None] = []
    next_pos: dict[str, int] = {}
    now_ms = int(time.time() * 1000)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for topic, key, value, headers in rows:
            if topic not in next_pos:
                found = conn.execute("SELECT next_pos FROM topics WHERE name = ?", (topic,)).fetchone()
                if found is None:
                    outcomes.append(BusUnavailable(f"topic {topic!r} does not exist in the local log"))
                    continue
                next_pos[topic] = int(found[0])
            conn.execute(
                "INSERT INTO records (topic, pos, ts_ms, key, value, headers) VALUES (?, ?, ?, ?, ?, ?)",
                (topic, next_pos[topic], now_ms, key, value, headers),
            )
            next_pos[topic] += 1
            outcomes.append(None)
        updates = [(pos, topic) for topic, pos in next_pos.items()]
        conn.executemany("UPDATE topics SET next_pos = ? WHERE name = ?", updates)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return outcomes


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, row: Row) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                outcomes = await self._store.run(append_many, [row for row, _ in batch])
            except BaseException as exc:  # every caller of the batch learns of it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else BusUnavailable(repr(exc)))
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue  # the caller gave up waiting; the row is durable all the same
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer
