"""Leases for the work done once per connection: polling and token refresh (DESIGN.md §7 Ownership).

A lease has an owner, an expiry on the store's clock and a fencing token. The token grows by one each
time the lease changes hands (a free or lapsed lease taken by anyone, even its former owner), never when
its holder renews it, and the row is kept on release, so tokens only ever grow. A fenced write
(`state.db.check_fence`) is refused once the token it carries is no longer the current one.
"""

from __future__ import annotations

from state.base import ConnectionKey, Lease
from state.db import Database, Tx, from_ms
from state.errors import StaleLease


def _lease(key: ConnectionKey, owner: str, token: int, expires_ms: int) -> Lease:
    expires = from_ms(expires_ms)
    assert expires is not None
    return Lease(key, owner, int(token), expires)


class SqlLeases:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _row(self, tx: Tx, key: ConnectionKey) -> tuple[str | None, int, int]:
        await tx.execute(
            "INSERT INTO leases (vendor, conn, owner, token, expires_ms) VALUES (?, ?, NULL, 0, 0) "
            "ON CONFLICT (vendor, conn) DO NOTHING", key.vendor, key.id)
        rows = await tx.fetch(
            f"SELECT owner, token, expires_ms FROM leases WHERE vendor = ? AND conn = ?{self._db.for_update}",
            key.vendor, key.id,
        )
        owner, token, expires_ms = rows[0]
        return owner, int(token), int(expires_ms)

    async def acquire(self, key: ConnectionKey, owner: str, ttl_s: float) -> Lease | None:
        async with self._db.transaction() as tx:
            holder, token, expires_ms = await self._row(tx, key)
            now = await tx.now_ms()
            held = holder is not None and expires_ms > now
            if held and holder != owner:
                return None
            if not held:
                token += 1  # changes hands: writes fenced with the older token are refused from now on
            expires_ms = now + int(ttl_s * 1000)
            await tx.execute("UPDATE leases SET owner = ?, token = ?, expires_ms = ? "
                             "WHERE vendor = ? AND conn = ?", owner, token, expires_ms, key.vendor, key.id)
        return _lease(key, owner, token, expires_ms)

    async def renew(self, lease: Lease, ttl_s: float) -> Lease:
        """A lapsed lease nobody took since still renews: its token is still the current one."""
        key = lease.key
        async with self._db.transaction() as tx:
            holder, token, _ = await self._row(tx, key)
            if holder != lease.owner or token != lease.token:
                raise StaleLease(f"lease of connection {key} (token {lease.token}) was taken over")
            expires_ms = await tx.now_ms() + int(ttl_s * 1000)
            await tx.execute("UPDATE leases SET expires_ms = ? WHERE vendor = ? AND conn = ?",
                             expires_ms, key.vendor, key.id)
        return _lease(key, lease.owner, token, expires_ms)

    async def release(self, lease: Lease) -> bool:
        key = lease.key
        async with self._db.transaction() as tx:
            return await tx.execute(
                "UPDATE leases SET owner = NULL, expires_ms = 0 "
                "WHERE vendor = ? AND conn = ? AND owner = ? AND token = ?",
                key.vendor, key.id, lease.owner, lease.token,
            ) > 0

    async def holder(self, key: ConnectionKey) -> Lease | None:
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT owner, token, expires_ms FROM leases WHERE vendor = ? AND conn = ?",
                                  key.vendor, key.id)
            now = await tx.now_ms()
        if not rows or rows[0][0] is None or rows[0][2] <= now:
            return None
        return _lease(key, rows[0][0], rows[0][1], rows[0][2])

    async def holders(self, vendor: str) -> list[Lease]:
        async with self._db.transaction(write=False) as tx:
            now = await tx.now_ms()
            rows = await tx.fetch("SELECT conn, owner, token, expires_ms FROM leases WHERE vendor = ? "
                                  "AND owner IS NOT NULL AND expires_ms > ? ORDER BY conn", vendor, now)
        return [_lease(ConnectionKey(vendor, conn), owner, token, expires_ms)
                for conn, owner, token, expires_ms in rows]
