"""What operators did in the console (issue 17: every action audited — who, what, when): an append-only
log with a sequence number. Details are JSON in the clear: callers put no secrets or patient data there."""

from __future__ import annotations

from datetime import datetime

from state.base import AuditRecord
from state.codec import dumps, loads
from state.db import Database, from_ms, to_ms


class SqlAuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, record: AuditRecord) -> AuditRecord:
        async with self._db.transaction() as tx:
            now = await tx.now_ms()
            rows = await tx.fetch(
                "INSERT INTO audit_log (at_ms, actor, action, target, detail) VALUES (?, ?, ?, ?, ?) "
                "RETURNING seq", now, record.actor, record.action, record.target, dumps(dict(record.detail)))
        return AuditRecord(record.actor, record.action, record.target, dict(record.detail), from_ms(now),
                           int(rows[0][0]))

    async def recent(self, limit: int = 100, actor: str | None = None) -> list[AuditRecord]:
        where, params = ("WHERE actor = ? ", [actor]) if actor is not None else ("", [])
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                f"SELECT seq, at_ms, actor, action, target, detail FROM audit_log {where}"
                "ORDER BY seq DESC LIMIT ?", *params, int(limit))
        return [AuditRecord(r[2], r[3], r[4], loads(r[5], "audit detail", r[2]), from_ms(r[1]), int(r[0]))
                for r in rows]

    async def aged(self, before: datetime) -> tuple[int, int]:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(actor) + LENGTH(action) + LENGTH(target) "
                "+ LENGTH(detail)), 0) FROM audit_log WHERE at_ms < ?", to_ms(before))
        return int(rows[0][0]), int(rows[0][1])

    async def prune(self, before: datetime) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM audit_log WHERE at_ms < ?", to_ms(before))
