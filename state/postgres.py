"""PostgreSQL backend: psycopg 3 (async) with a psycopg_pool connection pool, for several hosts.

Transactions are READ COMMITTED; a read that a write depends on locks its row (`FOR UPDATE` /
`FOR SHARE`). An exclusive section is a transaction holding `SELECT … FOR UPDATE` on a row of `locks`:
the server releases it when the holder commits, or when its connection dies with its process or host.
The store's clock is the server's (`clock_timestamp()`), so hosts with skewed clocks agree on leases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from state.db import Row, Tx, migrations
from state.errors import StateError, StateUnavailable

MIGRATION_LOCK = 0x5CA9B41D6E  # pg_advisory_xact_lock key: one process migrates at a time


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """The shared SQL's `?` placeholders in psycopg's style (the SQL has no literal `%` or `?`)."""
    return sql.replace("?", "%s")


class PostgresTx:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *params: object) -> list[Row]:
        cursor = await self._conn.execute(_pg(sql), params)
        return [tuple(row) for row in await cursor.fetchall()]

    async def execute(self, sql: str, *params: object) -> int:
        cursor = await self._conn.execute(_pg(sql), params)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(_pg(sql), rows)

    async def now_ms(self) -> int:
        rows = await self.fetch("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
        return int(rows[0][0])


def _translate(exc: Exception) -> StateError:
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        return StateUnavailable(f"state store (postgres) unavailable: {type(exc).__name__}")
    # Only the error's class and SQLSTATE: a message's detail may quote the values of a row.
    return StateError(f"state store (postgres): {type(exc).__name__} {getattr(exc, 'sqlstate', '')}")


class _Held:
    """The session of an exclusive section: its transactions are savepoints of the locking one."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        try:
            async with self._conn.transaction():
                yield PostgresTx(self._conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise _translate(exc) from exc


class PostgresDatabase:
    for_update = " FOR UPDATE"
    for_share = " FOR SHARE"

    def __init__(self, dsn: str, *, max_connections: int = 10, timeout_s: float = 10.0) -> None:
        self._dsn = dsn
        self._max = max_connections
        self._timeout_s = timeout_s
        self._pool: AsyncConnectionPool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        pool = AsyncConnectionPool(
            self._dsn, min_size=1, max_size=self._max, timeout=self._timeout_s, open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(self._timeout_s))},
        )
        try:
            await pool.open(wait=True, timeout=self._timeout_s)
        except (psycopg.Error, PoolTimeout) as exc:
            await pool.close()
            raise _translate(exc) from exc
        self._pool = pool
        await self._migrate()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        if self._pool is None:
            raise StateUnavailable("state store is not open")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise _translate(exc) from exc

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        """A read runs its statements in autocommit (one round trip each, no BEGIN/COMMIT)."""
        async with self._connection() as conn:
            if not write:
                yield PostgresTx(conn)
                return
            async with conn.transaction():
                yield PostgresTx(conn)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[_Held]:
        async with self._connection() as conn, conn.transaction():
            tx = PostgresTx(conn)
            await tx.execute("INSERT INTO locks (name) VALUES (?) ON CONFLICT DO NOTHING", name)
            await tx.fetch("SELECT name FROM locks WHERE name = ? FOR UPDATE", name)
            yield _Held(conn)

    async def _migrate(self) -> None:
        known = migrations("postgres")
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
            )
            cursor = await conn.execute("SELECT version FROM schema_migrations")
            applied = {int(row[0]) for row in await cursor.fetchall()}
            if applied and max(applied) > len(known):
                raise StateError(f"state store has schema {max(applied)}, newer than this scanbridge "
                                 f"knows ({len(known)})")
            for migration in known:
                if migration.version in applied:
                    continue
                await conn.execute(migration.sql.encode())  # several statements, no parameters
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_ms) "
                    "VALUES (%s, %s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                    (migration.version, migration.name),
                )
