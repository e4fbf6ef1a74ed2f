"""The orders index of the console (issue 17 "Orders"): one row per order (vendor, account, order id) with
its Rx, case id and order code to search by, and one row per event of it for its timeline; fed from the
events and artifacts topics (`scanbridge/console/indexer.py`). Ids and times are in the clear; the
patient fields and each event's summary are sealed like credentials (DESIGN.md §5.5)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from state.base import IndexedEvent, OrderKey, OrderQuery, OrderSummary, TimelineItem
from state.codec import seal, unseal
from state.db import Database, Row, from_ms, to_ms
from state.seal import Sealer

COLUMNS = "vendor, account, order_id, rx_id, case_id, order_code, stage, version, first_ms, last_ms, " \
          "events, artifacts"
MAX_LIMIT = 500

# The orders whose last event is older than a time (retention): their events go with them.
AGED = "SELECT vendor, account, order_id FROM orders WHERE last_ms < ?"

# One event more of an order: ids learned later fill in, stage and version follow the newest event.
UPSERT = (
    "INSERT INTO orders (vendor, account, order_id, rx_id, case_id, order_code, stage, version, first_ms, "
    "last_ms, events, artifacts, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
    "ON CONFLICT (vendor, account, order_id) DO UPDATE SET "
    "rx_id = COALESCE(excluded.rx_id, orders.rx_id), case_id = COALESCE(excluded.case_id, orders.case_id), "
    "order_code = COALESCE(excluded.order_code, orders.order_code), "
    "stage = CASE WHEN excluded.last_ms >= orders.last_ms THEN COALESCE(excluded.stage, orders.stage) "
    "ELSE orders.stage END, "
    "version = CASE WHEN excluded.last_ms >= orders.last_ms THEN COALESCE(excluded.version, orders.version) "
    "ELSE orders.version END, "
    "first_ms = CASE WHEN excluded.first_ms < orders.first_ms THEN excluded.first_ms "
    "ELSE orders.first_ms END, "
    "last_ms = CASE WHEN excluded.last_ms > orders.last_ms THEN excluded.last_ms ELSE orders.last_ms END, "
    "events = orders.events + 1, artifacts = orders.artifacts + excluded.artifacts, "
    "sealed = CASE WHEN ? = 1 THEN excluded.sealed ELSE orders.sealed END"
)


def _summary(row: Row) -> OrderSummary:
    first, last = from_ms(row[8]), from_ms(row[9])
    assert first is not None and last is not None
    return OrderSummary(OrderKey(row[0], row[1], row[2]), row[3], row[4], row[5], row[6], row[7], first, last,
                        int(row[10]), int(row[11]))


class SqlOrdersIndex:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    async def record(self, events: Iterable[IndexedEvent]) -> int:
        new = 0
        async with self._db.transaction() as tx:
            for e in events:
                k, at = e.key, to_ms(e.at)
                added = await tx.execute(
                    "INSERT INTO order_events (vendor, account, order_id, event_id, type, version, at_ms, "
                    "sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (vendor, account, order_id, event_id) DO NOTHING",
                    k.vendor, k.account, k.order, e.event_id, e.type, e.version, at,
                    seal(self._sealer, dict(e.summary)))
                if not added:
                    continue
                new += 1
                patient = None if e.patient is None else dict(e.patient)
                await tx.execute(UPSERT, k.vendor, k.account, k.order, e.rx_id, e.case_id, e.order_code,
                                 e.stage, e.version, at, at, int(e.artifact),
                                 seal(self._sealer, patient), int(e.patient is not None))
        return new

    async def search(self, query: OrderQuery) -> list[OrderSummary]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("vendor", query.vendor), ("account", query.account)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.ident:
            clauses.append("(order_id = ? OR rx_id = ? OR case_id = ? OR order_code = ?)")
            params += [query.ident] * 4
        if query.since is not None:
            clauses.append("last_ms >= ?")
            params.append(to_ms(query.since))
        if query.until is not None:
            clauses.append("last_ms < ?")
            params.append(to_ms(query.until))
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        limit = max(1, min(query.limit, MAX_LIMIT))
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(f"SELECT {COLUMNS} FROM orders {where}ORDER BY last_ms DESC LIMIT ?",
                                  *params, limit)
        return [_summary(r) for r in rows]

    async def get(self, key: OrderKey) -> OrderSummary | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(f"SELECT {COLUMNS} FROM orders WHERE vendor = ? AND account = ? "
                                  "AND order_id = ?", key.vendor, key.account, key.order)
        return _summary(rows[0]) if rows else None

    async def timeline(self, key: OrderKey) -> list[TimelineItem]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT event_id, type, version, at_ms, sealed FROM order_events WHERE vendor = ? AND "
                "account = ? AND order_id = ? ORDER BY at_ms, event_id", key.vendor, key.account, key.order)
        items = []
        for event_id, event_type, version, at_ms, sealed in rows:
            at = from_ms(at_ms)
            assert at is not None
            items.append(TimelineItem(event_id, event_type, version, at,
                                      unseal(self._sealer, sealed, "order event", key)))
        return items

    async def patient(self, key: OrderKey) -> Mapping[str, Any] | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT sealed FROM orders WHERE vendor = ? AND account = ? AND "
                                  "order_id = ?", key.vendor, key.account, key.order)
        if not rows:
            return None
        found = unseal(self._sealer, rows[0][0], "order patient", key)
        return found if isinstance(found, dict) else None

    async def aged(self, before: datetime) -> tuple[int, int]:
        async with self._db.transaction(write=False) as tx:
            orders = await tx.fetch("SELECT COUNT(*), COALESCE(SUM(LENGTH(sealed)), 0) FROM orders "
                                    "WHERE last_ms < ?", to_ms(before))
            events = await tx.fetch("SELECT COALESCE(SUM(LENGTH(sealed)), 0) FROM order_events "
                                    f"WHERE (vendor, account, order_id) IN ({AGED})", to_ms(before))
        return int(orders[0][0]), int(orders[0][1]) + int(events[0][0])

    async def prune(self, before: datetime) -> int:
        async with self._db.transaction() as tx:
            await tx.execute(f"DELETE FROM order_events WHERE (vendor, account, order_id) IN ({AGED})",
                             to_ms(before))
            return await tx.execute("DELETE FROM orders WHERE last_ms < ?", to_ms(before))
