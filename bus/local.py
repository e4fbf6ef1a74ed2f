"""Local backend: a durable log in one SQLite file (WAL, synchronous=FULL) with the Kafka backend's semantics.

Each topic has one partition (0): SQLite admits one writer at a time, so more partitions would add no
parallelism on one machine, and a single partition keeps every key in publish order. As in Kafka, a
group's partition belongs to one member at a time (a lease in the file, renewed by `poll`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bus.base import Delivery, Partition
from bus.codec import decode, encode
from bus.errors import BusError, BusUnavailable
from bus.groupcommit import GroupCommit
from bus.metrics import set_lag, timed_publish
from schemas.envelope import Envelope
from schemas.files import ensure_private_file, make_dirs

T = TypeVar("T")
PARTITION = 0
IDLE_POLL_S = 0.05  # how often an idle consumer looks for rows written by other connections
LEASE_S = 30.0  # a member that has not polled for this long loses its partitions (Kafka's session timeout)
RENEW_MS = 1000  # how often `poll` renews its leases or tries to take the ones it lacks

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, next_pos INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL, pos INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL,
    UNIQUE (topic, pos));
CREATE INDEX IF NOT EXISTS records_time ON records (topic, ts_ms);
CREATE TABLE IF NOT EXISTS committed (
    grp TEXT NOT NULL, topic TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (grp, topic));
CREATE TABLE IF NOT EXISTS leases (
    grp TEXT NOT NULL, topic TEXT NOT NULL, owner TEXT NOT NULL, expires_ms INTEGER NOT NULL,
    PRIMARY KEY (grp, topic));
"""

Row = tuple[int, str, int, int, bytes | None, bytes, str]  # seq, topic, pos, ts_ms, key, value, headers


def _row(topic: str, event: Envelope) -> tuple[str, bytes, bytes, str]:
    key, value, headers = encode(event)
    return topic, key, value, orjson.dumps([[name, data.hex()] for name, data in headers]).decode()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _event(row: Row) -> Envelope:
    headers = [(name, bytes.fromhex(value)) for name, value in json.loads(row[6])]
    return decode(row[4], row[5], headers)


class Store:
    """One connection to the log file, used from one thread; every method is one transaction."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` in the store's thread; SQLite errors become BusUnavailable."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"localbus-{self._path.name}")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, args)
        except sqlite3.Error as exc:
            raise BusUnavailable(f"local log {self._path} failed: {exc!r}") from exc

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._conn is None:
            make_dirs(self._path.parent)
            _make_private(self._path)
            conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a commit that returned is on disk
            conn.executescript(_SCHEMA)
            self._conn = conn
        return fn(self._conn, *args)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=False)


def _make_private(path: Path) -> None:
    """The log file 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode of the
    database file. Left-overs of an older run are made private too."""
    ensure_private_file(path)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path.with_name(path.name + suffix), 0o600)


def _end(conn: sqlite3.Connection, topic: str) -> int:
    found = conn.execute("SELECT next_pos FROM topics WHERE name = ?", (topic,)).fetchone()
    return int(found[0]) if found else 0


def _earliest(conn: sqlite3.Connection, topic: str) -> int:
    found = conn.execute("SELECT MIN(pos) FROM records WHERE topic = ?", (topic,)).fetchone()
    return int(found[0]) if found[0] is not None else _end(conn, topic)


class LocalBus:
    """The `Bus` on a SQLite file; several processes on one machine may open the same file."""

    def __init__(self, path: Path, lease_s: float = LEASE_S) -> None:
        self.path = Path(path)
        self._lease_s = lease_s
        self._store = Store(self.path)
        self._commits = GroupCommit(self._store)

    async def start(self) -> None:
        await self._store.run(lambda conn: None)

    async def close(self) -> None:
        await self._commits.close()
        await self._store.close()

    async def publish(self, topic: str, event: Envelope) -> None:
        """Append the event; the row is fsynced (WAL, synchronous=FULL) before this returns.

        Publishes that arrive together are committed together (bus/groupcommit.py): one fsync each batch.
        """
        await self.publish_many([(topic, event)])

    async def publish_many(self, records: Sequence[tuple[str, Envelope]]) -> None:
        """Append the events in one batch of the group commit; all are fsynced when this returns."""
        rows = [_row(topic, event) for topic, event in records]
        with timed_publish("local", len(rows)):
            await self._commits.append_all(rows)

    async def ready(self) -> bool:
        try:
            await self._store.run(lambda conn: conn.execute("SELECT 1").fetchone())
        except BusUnavailable:
            return False
        return True

    async def ensure_topics(self, topics: list[str]) -> None:
        def create(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR IGNORE INTO topics (name) VALUES (?)", [(t,) for t in topics])

        await self._store.run(create)

    async def missing_topics(self, topics: list[str]) -> list[str]:
        """Reads only: a file that does not exist yet is not created (it has no topics)."""
        if not self.path.exists():
            return list(topics)

        def existing(conn: sqlite3.Connection) -> set[str]:
            return {row[0] for row in conn.execute("SELECT name FROM topics")}

        have = await self._store.run(existing)
        return [t for t in topics if t not in have]

    async def group_members(self, group: str) -> list[str]:
        """The members holding a lease that has not expired (as Kafka's session timeout)."""
        if not self.path.exists():
            return []

        def owners(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute(
                "SELECT DISTINCT owner FROM leases WHERE grp = ? AND expires_ms > ? ORDER BY owner",
                (group, _now_ms()))]

        return await self._store.run(owners)

    async def committed(self, group: str, topics: list[str]) -> dict[Partition, int]:
        if not self.path.exists():
            return {}

        def read(conn: sqlite3.Connection) -> dict[Partition, int]:
            rows = conn.execute("SELECT topic, pos FROM committed WHERE grp = ?", (group,)).fetchall()
            return {Partition(topic, PARTITION): int(pos) for topic, pos in rows if topic in topics}

        return await self._store.run(read)

    def consumer(self, topics: list[str], group: str) -> LocalConsumer:
        return LocalConsumer(self.path, topics, group, self._lease_s)

    # The spool (bus/spool.py) reads and deletes rows in append order across topics.

    async def oldest(self, limit: int) -> list[tuple[int, str, Envelope]]:
        """The oldest rows of the whole file: (sequence number, topic, event)."""

        def read(conn: sqlite3.Connection) -> list[Row]:
            return conn.execute(
                "SELECT seq, topic, pos, ts_ms, key, value, headers FROM records ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()

        return [(row[0], row[1], _event(row)) for row in await self._store.run(read)]

    async def remove(self, seqs: list[int]) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM records WHERE seq = ?", [(s,) for s in seqs])

        if seqs:
            await self._store.run(delete)

    # Retention (`scanbridge prune`): records older than a time go, whatever the groups' positions,
    # as Kafka's retention.ms does; a consumer behind them resumes at the oldest record left.

    async def older_than(self, before: datetime) -> tuple[int, int]:
        """How many records were written before `before`, and their bytes (key, value and headers)."""

        def measure(conn: sqlite3.Connection) -> tuple[int, int]:
            count, size = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(key) + LENGTH(value) + LENGTH(headers)), 0) "
                "FROM records WHERE ts_ms < ?", (int(before.timestamp() * 1000),)).fetchone()
            return int(count), int(size)

        return await self._store.run(measure)

    async def prune(self, before: datetime, batch: int = 5000) -> AsyncIterator[int]:
        """Delete the records written before `before`, `batch` at a time; yields how many each time."""

        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM records WHERE seq IN "
                "(SELECT seq FROM records WHERE ts_ms < ? ORDER BY seq LIMIT ?)",
                (int(before.timestamp() * 1000), batch)).rowcount

        while removed := await self._store.run(delete):
            yield removed

    async def count(self) -> int:
        def count(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

        return await self._store.run(count)


class LocalConsumer:
    """A group member: positions in memory, committed offsets and partition leases in the file."""

    def __init__(self, path: Path, topics: list[str], group: str, lease_s: float) -> None:
        self._store = Store(path)
        self._topics = list(dict.fromkeys(topics))
        self._group = group
        self._lease_ms = int(lease_s * 1000)
        self._member = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"  # names the member
        self._positions: dict[str, int] = {}  # assigned topics → next position to read
        self._assigned_ms = 0

    async def start(self) -> None:
        await self._store.run(self._assign)

    async def close(self) -> None:
        def release(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE grp = ? AND owner = ?", (self._group, self._member))

        try:
            await self._store.run(release)
        finally:
            self._positions.clear()
            await self._store.close()

    def _assign(self, conn: sqlite3.Connection) -> None:
        """Take or renew the lease of every topic; a newly taken partition starts at its committed offset."""
        now = _now_ms()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for topic in self._topics:
                lease = conn.execute(
                    "SELECT owner, expires_ms FROM leases WHERE grp = ? AND topic = ?", (self._group, topic)
                ).fetchone()
                mine = lease is not None and lease[0] == self._member
                if lease is not None and not mine and lease[1] > now:
                    self._positions.pop(topic, None)  # another member holds it
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO leases (grp, topic, owner, expires_ms) VALUES (?, ?, ?, ?)",
                    (self._group, topic, self._member, now + self._lease_ms),
                )
                if not mine or topic not in self._positions:
                    found = conn.execute(
                        "SELECT pos FROM committed WHERE grp = ? AND topic = ?", (self._group, topic)
                    ).fetchone()
                    self._positions[topic] = int(found[0]) if found else _earliest(conn, topic)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._assigned_ms = now

    def _fetch(self, conn: sqlite3.Connection, limit: int) -> list[Delivery]:
        if _now_ms() - self._assigned_ms >= min(RENEW_MS, self._lease_ms // 3):
            self._assign(conn)
        out: list[Delivery] = []
        for topic, pos in list(self._positions.items()):
            rows: list[Row] = conn.execute(
                "SELECT seq, topic, pos, ts_ms, key, value, headers FROM records "
                "WHERE topic = ? AND pos >= ? ORDER BY pos LIMIT ?",
                (topic, pos, limit - len(out)),
            ).fetchall()
            for row in rows:
                out.append(Delivery(Partition(topic, PARTITION), row[2], row[3], _event(row)))
                self._positions[topic] = row[2] + 1
            if len(out) >= limit:
                break
        return out

    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            got = await self._store.run(self._fetch, max_records)
            remaining = deadline - loop.time()
            if got or remaining <= 0:
                return got
            await asyncio.sleep(min(IDLE_POLL_S, remaining))

    async def commit(self, offsets: dict[Partition, int]) -> None:
        lags: dict[tuple[str, int], int] = {}

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for p, pos in offsets.items():
                    lease = conn.execute(
                        "SELECT owner FROM leases WHERE grp = ? AND topic = ?", (self._group, p.topic)
                    ).fetchone()
                    if lease is not None and lease[0] != self._member:
                        raise BusError(f"{p.topic} was reassigned to another member of {self._group}")
                    conn.execute(
                        "INSERT OR REPLACE INTO committed (grp, topic, pos) VALUES (?, ?, ?)",
                        (self._group, p.topic, pos),
                    )
                    lags[(p.topic, p.partition)] = _end(conn, p.topic) - pos
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        if offsets:
            await self._store.run(write)
            set_lag(self._group, lags)

    async def _assigned(self) -> list[str]:
        """Wait until this member holds every topic, as Kafka's consumer waits for its assignment."""
        while True:
            await self._store.run(self._assign)
            if len(self._positions) == len(self._topics):
                return list(self._positions)
            await asyncio.sleep(IDLE_POLL_S)

    async def seek_to_time(self, when: datetime) -> dict[Partition, int]:
        when_ms = int(when.timestamp() * 1000)

        def seek(conn: sqlite3.Connection, topics: list[str]) -> dict[Partition, int]:
            for topic in topics:
                found = conn.execute(
                    "SELECT MIN(pos) FROM records WHERE topic = ? AND ts_ms >= ?", (topic, when_ms)
                ).fetchone()
                self._positions[topic] = int(found[0]) if found[0] is not None else _end(conn, topic)
            return {Partition(t, PARTITION): self._positions[t] for t in topics}

        return await self._store.run(seek, await self._assigned())

    async def end_offsets(self) -> dict[Partition, int]:
        def ends(conn: sqlite3.Connection, topics: list[str]) -> dict[Partition, int]:
            return {Partition(t, PARTITION): _end(conn, t) for t in topics}

        return await self._store.run(ends, await self._assigned())
