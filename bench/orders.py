"""The console's orders search with many orders in the state store (issue 17 item 4): the orders index
is filled with `count` orders (one `order.updated` each, 3 vendors, 50 accounts, over a year), then each
kind of search the Orders page makes is timed through the store (`state/tables/orders.py`) and, as the
ceiling, the same SELECT through the bare driver (sqlite3, psycopg) on the same database."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr

from schemas.settings import StateSettings
from state.base import IndexedEvent, OrderKey, OrderQuery
from state.factory import make_state_store
from state.tables.orders import COLUMNS

VENDORS = ("itero", "meditlink", "3shape")
ACCOUNTS = 50
START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 5000


def _order(n: int) -> IndexedEvent:
    vendor = VENDORS[n % len(VENDORS)]
    key = OrderKey(vendor, f"account-{n % ACCOUNTS}", f"order-{n:07d}")
    return IndexedEvent(key, f"event-{n}", "order.updated", START + timedelta(seconds=n * 315),
                        version="v1", rx_id=f"rx-{n:07d}", case_id=f"case-{n:07d}", order_code=f"OC-{n}",
                        stage="scanned", patient={"last_name": "Doe"},
                        summary={"stage": "scanned", "artifacts": 2})


def _queries(count: int, rng: random.Random) -> dict[str, Callable[[], OrderQuery]]:
    def day() -> OrderQuery:
        since = START + timedelta(seconds=rng.randrange(count) * 315)
        return OrderQuery(since=since, until=since + timedelta(days=1))

    return {
        "Rx id": lambda: OrderQuery(ident=f"rx-{rng.randrange(count):07d}"),
        "order code": lambda: OrderQuery(ident=f"OC-{rng.randrange(count)}"),
        "vendor + account": lambda: OrderQuery(vendor="itero",
                                               account=f"account-{rng.randrange(0, ACCOUNTS, 3)}"),
        "one day": day,
        "newest 50": OrderQuery,
    }


def _sql(query: OrderQuery) -> tuple[str, list[Any]]:
    """The SELECT of `SqlOrdersIndex.search` for `query` (kept equal by hand; ? placeholders)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("vendor", query.vendor), ("account", query.account)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.ident:
        clauses.append("(order_id = ? OR rx_id = ? OR case_id = ? OR order_code = ?)")
        params += [query.ident] * 4
    if query.since is not None and query.until is not None:
        clauses += ["last_ms >= ?", "last_ms < ?"]
        params += [int(query.since.timestamp() * 1000), int(query.until.timestamp() * 1000)]
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    sql = f"SELECT {COLUMNS} FROM orders {where}ORDER BY last_ms DESC LIMIT ?"  # noqa: S608 - constants only
    return sql, [*params, query.limit]


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000}


async def _run(settings: StateSettings, count: int, rounds: int, raw: Callable[[str, list[Any]], int],
               bulk: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Fill through the store (`record`, as the indexer does) or, given `bulk`, by one SQL statement (the
    searches do not read the sealed columns), then time the searches."""
    store = make_state_store(settings, keys=[Fernet.generate_key().decode()])
    await store.start()
    try:
        started = time.perf_counter()
        if bulk is not None:
            bulk(count)
        else:
            for first in range(0, count, BATCH):
                await store.orders.record([_order(n) for n in range(first, min(count, first + BATCH))])
        fill_s = time.perf_counter() - started
        rows = []
        for name, make in _queries(count, random.Random(7)).items():
            ours, bare, found = [], [], 0
            for _ in range(rounds):
                query = make()
                t0 = time.perf_counter()
                found += len(await store.orders.search(query))
                t1 = time.perf_counter()
                raw(*_sql(query))
                ours.append(t1 - t0)
                bare.append(time.perf_counter() - t1)
            rows.append({"query": name, "store": _ms(ours), "raw": _ms(bare),
                         "rows_per_query": found / rounds})
        return {"orders": count, "fill_s": fill_s, "filled_by": "sql" if bulk else "record", "queries": rows}
    finally:
        await store.close()


def run_sqlite(count: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="scanbridge-bench-orders-") as tmp:
        path = Path(tmp) / "state.sqlite3"
        conn: sqlite3.Connection | None = None

        def raw(sql: str, params: list[Any]) -> int:
            nonlocal conn
            conn = conn or sqlite3.connect(path)
            return len(conn.execute(sql, params).fetchall())

        try:
            return {"backend": "sqlite", **asyncio.run(_run(StateSettings(path=path), count, rounds, raw))}
        finally:
            if conn is not None:
                conn.close()


def run_postgres(count: int, rounds: int, dsn: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_orders CASCADE")
        conn.execute("CREATE SCHEMA bench_orders")
        scoped = f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3Dbench_orders"
        with psycopg.connect(scoped, autocommit=True) as raw_conn:

            def raw(sql: str, params: list[Any]) -> int:
                return len(raw_conn.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]

            def bulk(n: int) -> None:
                """The rows `_order` makes, in one statement: through `record` (one round trip per
                statement) 100,000 orders took 14 minutes on the loaded bench machine."""
                raw_conn.execute(
                    "INSERT INTO orders (vendor, account, order_id, rx_id, case_id, order_code, stage, "
                    "version, first_ms, last_ms, events, artifacts, sealed) SELECT "
                    "(ARRAY['itero','meditlink','3shape'])[n %% 3 + 1], 'account-' || (n %% %s), "
                    "'order-' || lpad(n::text, 7, '0'), 'rx-' || lpad(n::text, 7, '0'), "
                    "'case-' || lpad(n::text, 7, '0'), 'OC-' || n, 'scanned', "
                    "'v1', %s + n * 315000::bigint, %s + n * 315000::bigint, 1, 0, '-' "
                    "FROM generate_series(0, %s - 1) AS n",
                    [ACCOUNTS, int(START.timestamp() * 1000), int(START.timestamp() * 1000), n])
                raw_conn.execute("ANALYZE orders")

            settings = StateSettings(backend="postgres", dsn=SecretStr(scoped))
            try:
                return {"backend": "postgres", **asyncio.run(_run(settings, count, rounds, raw, bulk))}
            finally:
                conn.execute("DROP SCHEMA bench_orders CASCADE")
