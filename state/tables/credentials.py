"""Vendor credentials, sealed at rest, and the single-flight refresh of a rotating refresh token.

A refresh token that rotates may be spent once: two processes (or hosts) that both find the access
token expired must not both refresh. `refresh` is single-flight at two levels: one task per process
(an asyncio lock), then one process anywhere (the backend's exclusive section: a locked row on
PostgreSQL, a file lock beside the SQLite file). Inside, the row is read again, so a waiter that was
beaten to it finds the fresh pair and does not call the vendor.
"""

from __future__ import annotations

import asyncio
from typing import Any

from state.base import ConnectionKey, Credentials, NeedsRefresh, Refresh
from state.codec import seal, unseal
from state.db import Database, Session, Tx, from_ms, to_ms
from state.errors import CorruptState, CredentialsMissing, VersionConflict
from state.seal import Sealer

WHAT = "credentials"


class SqlCredentials:
    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer
        self._local: dict[ConnectionKey, asyncio.Lock] = {}

    def _decode(self, key: ConnectionKey, sealed: str, version: int) -> Credentials:
        data: Any = unseal(self._sealer, sealed, WHAT, key)
        try:
            return Credentials(
                access_token=str(data["access_token"]),
                refresh_token=None if data.get("refresh_token") is None else str(data["refresh_token"]),
                expires_at=from_ms(data.get("expires_ms")),
                extra=dict(data.get("extra") or {}),
                version=int(version),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise CorruptState(f"{WHAT} of connection {key} are incomplete") from exc

    def _encode(self, credentials: Credentials) -> str:
        return seal(self._sealer, {
            "access_token": credentials.access_token,
            "refresh_token": credentials.refresh_token,
            "expires_ms": to_ms(credentials.expires_at),
            "extra": dict(credentials.extra),
        })

    async def _read(self, tx: Tx, key: ConnectionKey, lock: str = "") -> Credentials | None:
        rows = await tx.fetch(f"SELECT sealed, version FROM credentials WHERE vendor = ? AND conn = ?{lock}",
                              key.vendor, key.id)
        return self._decode(key, rows[0][0], rows[0][1]) if rows else None

    async def get(self, key: ConnectionKey) -> Credentials | None:
        async with self._db.transaction(write=False) as tx:
            return await self._read(tx, key)

    async def put(
        self, key: ConnectionKey, credentials: Credentials, *, if_version: int | None = None
    ) -> Credentials:
        return await self._put(self._db, key, credentials, if_version)

    async def _put(
        self, session: Session, key: ConnectionKey, credentials: Credentials, if_version: int | None
    ) -> Credentials:
        sealed = self._encode(credentials)
        async with session.transaction() as tx:
            if if_version == 0:
                rows = await tx.fetch(
                    "INSERT INTO credentials (vendor, conn, sealed, version) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (vendor, conn) DO NOTHING RETURNING version", key.vendor, key.id, sealed)
            elif if_version is None:
                rows = await tx.fetch(
                    "INSERT INTO credentials (vendor, conn, sealed, version) VALUES (?, ?, ?, 1) "
                    "ON CONFLICT (vendor, conn) DO UPDATE SET sealed = excluded.sealed, "
                    "version = credentials.version + 1 RETURNING version", key.vendor, key.id, sealed)
            else:
                rows = await tx.fetch(
                    "UPDATE credentials SET sealed = ?, version = version + 1 "
                    "WHERE vendor = ? AND conn = ? AND version = ? RETURNING version",
                    sealed, key.vendor, key.id, if_version)
        if not rows:
            raise VersionConflict(f"{WHAT} of connection {key} changed since version {if_version}")
        return Credentials(credentials.access_token, credentials.refresh_token, credentials.expires_at,
                           dict(credentials.extra), int(rows[0][0]))

    async def delete(self, key: ConnectionKey) -> bool:
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM credentials WHERE vendor = ? AND conn = ?",
                                    key.vendor, key.id) > 0

    async def refresh(self, key: ConnectionKey, needs_refresh: NeedsRefresh, refresh: Refresh) -> Credentials:
        local = self._local.setdefault(key, asyncio.Lock())
        async with local, self._db.exclusive(f"credentials/{key.vendor}/{key.id}") as session:
            async with session.transaction(write=False) as tx:
                current = await self._read(tx, key)
            if current is None:
                raise CredentialsMissing(f"connection {key} has no credentials")
            if not needs_refresh(current):
                return current  # refreshed by someone else while this caller waited
            fresh = await refresh(current)
            # Another writer (a new grant from `connect`) may have come in meanwhile: refuse to bury it.
            return await self._put(session, key, fresh, current.version)
