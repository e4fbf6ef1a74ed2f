"""Order claims: one worker at a time handles an order, across processes and hosts (DESIGN.md §7
Ownership, issue 12 item 7). A claim has an owner, an expiry on the store's clock and a token of its own
(random, new each time the claim is taken): its holder renews it, releases it when done; another worker
takes it only once it is free or lapsed. Unlike a connection's lease (`state/tables/leases.py`, kept
forever so its fencing tokens only grow) a claim's row is deleted on release — there is one per order.
"""

from __future__ import annotations

import uuid

from state.base import Claim
from state.db import Database, from_ms
from state.errors import StaleLease


def _claim(name: str, owner: str, token: str, expires_ms: int) -> Claim:
    expires = from_ms(expires_ms)
    assert expires is not None
    return Claim(name, owner, token, expires)


class SqlClaims:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, name: str, owner: str, ttl_s: float) -> Claim | None:
        token = uuid.uuid4().hex
        async with self._db.transaction() as tx:
            now = await tx.now_ms()
            expires_ms = now + int(ttl_s * 1000)
            taken = await tx.execute(
                "INSERT INTO claims (name, owner, token, expires_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, token = excluded.token, "
                "expires_ms = excluded.expires_ms WHERE claims.expires_ms <= ?",
                name, owner, token, expires_ms, now)
        return _claim(name, owner, token, expires_ms) if taken > 0 else None

    async def renew(self, claim: Claim, ttl_s: float) -> Claim:
        async with self._db.transaction() as tx:
            expires_ms = await tx.now_ms() + int(ttl_s * 1000)
            renewed = await tx.execute("UPDATE claims SET expires_ms = ? WHERE name = ? AND token = ?",
                                       expires_ms, claim.name, claim.token)
        if renewed == 0:
            raise StaleLease(f"claim {claim.name!r} was taken over")
        return _claim(claim.name, claim.owner, claim.token, expires_ms)

    async def release(self, claim: Claim) -> bool:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM claims WHERE name = ? AND token = ?",
                                    claim.name, claim.token) > 0

    async def holder(self, name: str) -> Claim | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT owner, token, expires_ms FROM claims WHERE name = ?", name)
            now = await tx.now_ms()
        if not rows or int(rows[0][2]) <= now:
            return None
        return _claim(name, rows[0][0], rows[0][1], int(rows[0][2]))
