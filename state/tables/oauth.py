"""Pending OAuth2 authorizations (the `state` parameter, meditlink-openapi.txt §1.2.1 Step #1): made by
the host that built the authorize URL, taken once by whichever host receives the redirect.

Only a hash of `state` is stored (the row alone cannot answer a redirect); the rest is sealed, since it
may hold a PKCE code verifier. The connection it belongs to and when it was made are kept in clear, so a
redirect that comes back without `state` can be bound to the one recent authorization of a connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from state.base import ConnectionKey, PendingAuthorization
from state.codec import seal, unseal
from state.db import Database
from state.seal import Sealer

MAX_STATE_CHARS = 200


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class SqlOAuthStates:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    async def put(self, state: str, pending: PendingAuthorization, ttl_s: float) -> None:
        if not state or len(state) > MAX_STATE_CHARS:
            raise ValueError(f"an OAuth state is 1–{MAX_STATE_CHARS} characters")
        sealed = seal(self._sealer, {"vendor": pending.key.vendor, "connection": pending.key.id,
                                     "redirect_uri": pending.redirect_uri, "extra": dict(pending.extra)})
        async with self._db.transaction() as tx:
            now = await tx.now_ms()
            await tx.execute("DELETE FROM oauth_states WHERE expires_ms <= ?", now)  # housekeeping
            await tx.execute(
                "INSERT INTO oauth_states (state_hash, sealed, expires_ms, vendor, conn, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)", _hash(state), sealed, now + int(ttl_s * 1000),
                pending.key.vendor, pending.key.id, now)

    async def take(self, state: str) -> PendingAuthorization | None:
        if not state or len(state) > MAX_STATE_CHARS:
            return None
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "DELETE FROM oauth_states WHERE state_hash = ? RETURNING sealed, expires_ms", _hash(state))
            now = await tx.now_ms()
        if not rows or int(rows[0][1]) <= now:
            return None
        return self._pending(rows[0][0])

    def _pending(self, sealed: str) -> PendingAuthorization:
        data = unseal(self._sealer, sealed, "pending authorization", "(unknown)")
        return PendingAuthorization(ConnectionKey(str(data["vendor"]), str(data["connection"])),
                                    str(data["redirect_uri"]), dict(data.get("extra") or {}))

    async def take_recent(self, vendor: str, connections: Iterable[str],
                          within_s: float) -> list[PendingAuthorization]:
        wanted = sorted(set(connections))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        async with self._db.transaction() as tx:
            now = await tx.now_ms()
            rows = await tx.fetch(
                f"DELETE FROM oauth_states WHERE vendor = ? AND conn IN ({marks}) AND created_ms >= ? "
                "AND expires_ms > ? RETURNING sealed", vendor, *wanted, now - int(within_s * 1000), now)
        return [self._pending(row[0]) for row in rows]

    async def pending(self, key: ConnectionKey) -> int:
        async with self._db.transaction(write=False) as tx:
            now = await tx.now_ms()
            rows = await tx.fetch("SELECT COUNT(*) FROM oauth_states WHERE vendor = ? AND conn = ? "
                                  "AND expires_ms > ?", key.vendor, key.id, now)
        return int(rows[0][0])
