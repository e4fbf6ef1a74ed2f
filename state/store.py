"""The `StateStore` over a SQL backend: the stores of `state/tables/`, start, readiness and key rotation."""

from __future__ import annotations

from state.base import (
    AuditLog,
    Claims,
    Connections,
    CredentialStore,
    Entries,
    Leases,
    Maps,
    Markers,
    OAuthStates,
    OrdersIndex,
    Sets,
    Subscriptions,
)
from state.db import Database
from state.errors import StateError
from state.seal import Sealer
from state.tables.audit import SqlAuditLog
from state.tables.claims import SqlClaims
from state.tables.connections import SqlConnections
from state.tables.credentials import SqlCredentials
from state.tables.leases import SqlLeases
from state.tables.markers import SqlMarkers
from state.tables.oauth import SqlOAuthStates
from state.tables.orders import SqlOrdersIndex
from state.tables.progress import SqlEntries, SqlMaps, SqlSets
from state.tables.subscriptions import SqlSubscriptions

SEALED = {
    "credentials": ("vendor", "conn"),
    "connections": ("vendor", "conn"),
    "oauth_states": ("state_hash",),
    "subscriptions": ("id",),
    "orders": ("vendor", "account", "order_id"),
    "order_events": ("vendor", "account", "order_id", "event_id"),
}


class SqlStateStore:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self.db = db
        self._sealer = sealer
        self.connections: Connections = SqlConnections(db, sealer)
        self.credentials: CredentialStore = SqlCredentials(db, sealer)
        self.leases: Leases = SqlLeases(db)
        self.claims: Claims = SqlClaims(db)
        self.entries: Entries = SqlEntries(db)
        self.maps: Maps = SqlMaps(db)
        self.sets: Sets = SqlSets(db)
        self.markers: Markers = SqlMarkers(db)
        self.oauth: OAuthStates = SqlOAuthStates(db, sealer)
        self.subscriptions: Subscriptions = SqlSubscriptions(db, sealer)
        self.audit: AuditLog = SqlAuditLog(db)
        self.orders: OrdersIndex = SqlOrdersIndex(db, sealer)

    async def start(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def ready(self) -> bool:
        try:
            async with self.db.transaction(write=False) as tx:
                await tx.fetch("SELECT 1")
        except StateError:
            return False
        return True

    async def reseal(self) -> int:
        done = 0
        async with self.db.transaction() as tx:
            for table, ids in SEALED.items():
                columns = ", ".join(ids)
                match = " AND ".join(f"{c} = ?" for c in ids)
                for *row_id, sealed in await tx.fetch(f"SELECT {columns}, sealed FROM {table}"):
                    if self._sealer.is_current(sealed):
                        continue
                    done += await tx.execute(f"UPDATE {table} SET sealed = ? WHERE {match}",
                                             self._sealer.reseal(sealed), *row_id)
        return done
