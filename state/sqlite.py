"""SQLite backend: one file (WAL, synchronous=FULL, mode 0600) shared by the processes of one host.

aiosqlite runs the statements in its own thread, off the event loop. A process has one connection and
runs one transaction at a time on it; write transactions begin IMMEDIATE (they take SQLite's write
lock at once, so a read-then-write is never interleaved with another process's write). An exclusive
section is a `flock` on a file per name beside the database: it is per host like the file itself, it
is released by the kernel when its process dies, and it does not hold SQLite's write lock (the whole
file) while a token refresh waits on a vendor.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from schemas.files import ensure_private_file, make_dirs
from state.db import Row, Tx, migrations
from state.errors import StateError, StateUnavailable

BUSY_TIMEOUT_S = 30.0  # how long a statement waits for another process's write lock
LOCK_POLL_S = 0.01  # how often a waiter tries an exclusive section held by another process


class SqliteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *params: object) -> list[Row]:
        async with self._conn.execute(sql, params) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def execute(self, sql: str, *params: object) -> int:
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def execute_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        await self._conn.executemany(sql, rows)

    async def now_ms(self) -> int:
        return int(time.time() * 1000)  # one host: its clock is the store's clock


def _statements(script: str) -> list[str]:
    """The statements of a migration file, split where SQLite says a statement is complete."""
    found: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            found.append(buffer.strip())
            buffer = ""
    return found


def _translate(exc: sqlite3.Error, path: Path) -> StateError:
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return StateError(f"state store {path}: {exc}")
    return StateUnavailable(f"state store {path} failed: {exc!r}")


class SqliteDatabase:
    for_update = ""
    for_share = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        await asyncio.to_thread(self._create_private)
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            try:
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute("PRAGMA synchronous=FULL")  # a commit that returned is on disk
                break
            except sqlite3.Error as exc:
                await conn.close()
                # Connections switching a new file to WAL at once: SQLite answers "locked" at once
                # (no busy wait, it could deadlock) to all but one; the others try again shortly.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise _translate(exc, self.path) from exc
                await asyncio.sleep(LOCK_POLL_S)
        self._conn = conn
        await self._migrate()

    def _create_private(self) -> None:
        """The file holds sealed credentials and what was announced: owner only (the -wal and -shm
        files SQLite makes take the same mode)."""
        make_dirs(self.path.parent)  # new folders 0700 (DESIGN.md §5.5)
        ensure_private_file(self.path)  # an existing file is not opened: that would drop this process's locks

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        conn = self._conn
        if conn is None:
            raise StateUnavailable("state store is not open")
        async with self._lock:
            try:
                if not write:  # each statement of a read is its own (autocommit) read transaction
                    yield SqliteTx(conn)
                    return
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                except asyncio.CancelledError:
                    # The BEGIN still runs in aiosqlite's thread: roll it back behind it, or the next
                    # transaction of this connection fails ("within a transaction") — a poll round
                    # cancelled when its lease is lost or its connection removed.
                    with contextlib.suppress(sqlite3.Error):
                        await asyncio.shield(conn.execute("ROLLBACK"))
                    raise
                try:
                    yield SqliteTx(conn)
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[SqliteDatabase]:
        folder = self.path.with_name(f"{self.path.name}.locks")
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        fd = await asyncio.to_thread(_open_lock_file, folder, digest)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(LOCK_POLL_S)
            yield self
        finally:
            os.close(fd)  # closing the file releases the lock

    async def _migrate(self) -> None:
        known = migrations("sqlite")
        async with self.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)"
            )
            applied = {int(row[0]) for row in await tx.fetch("SELECT version FROM schema_migrations")}
            if applied and max(applied) > len(known):
                raise StateError(f"state store {self.path} has schema {max(applied)}, newer than this "
                                 f"scanbridge knows ({len(known)})")
            for migration in known:
                if migration.version in applied:
                    continue
                for statement in _statements(migration.sql):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)",
                                 migration.version, migration.name, await tx.now_ms())


def _open_lock_file(folder: Path, digest: str) -> int:
    folder.mkdir(mode=0o700, exist_ok=True)
    return os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
