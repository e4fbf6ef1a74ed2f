"""Pairing of iTero / Align connections: one token store per connection, and the un-paired state — a 401
the refresh-token exchange could not cure — persisted, announced once, honoured by poller and worker
(Align lab guideline §3.8 Pair and Un-pair; itero-dpms-api.txt Prerequisites)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

from bus.base import Bus
from consumers.cursor import JsonState
from consumers.storage import safe_component
from consumers.tokens import Tokens, TokenStore
from schemas.eventfactory import vendor_event
from schemas.events import ConnectionStatus, ReauthorizationNeeded
from schemas.settings import IteroConnection, Settings
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED

log = logging.getLogger(__name__)

_STORES: dict[Path, TokenStore] = {}
_LOCK = asyncio.Lock()


def _name(connection: IteroConnection) -> str:
    return f"{connection.vendor}-{safe_component(connection.id)}"


def token_path(state_dir: Path, connection: IteroConnection) -> Path:
    return state_dir / "tokens" / f"{_name(connection)}.json"


def state_of(state_dir: Path, connection: IteroConnection) -> JsonState:
    return JsonState(state_dir / "connections" / f"{_name(connection)}.json")


def account_of(connection: IteroConnection, company_id: str | None = None) -> str:
    """The account label of events, as the receiver derives it (CompanyId, else the connection id)."""
    return connection.company_id or company_id or connection.id


class SharedTokenStore(TokenStore):
    """A TokenStore that re-reads its file before refreshing: another process (worker, poller) may have
    rotated the refresh token already, and refreshing with the old one would look like an un-pair."""

    async def refresh(self, stale_access_token: str) -> str:
        on_disk = self._load()
        if on_disk is not None and on_disk.access_token != stale_access_token:
            self._tokens = on_disk
            return on_disk.access_token
        return await super().refresh(stale_access_token)


def token_store(settings: Settings, connection: IteroConnection) -> TokenStore:
    """One store per token file in this process, shared by the worker handler and the poller."""
    path = token_path(settings.state_dir, connection)
    if path not in _STORES:
        _STORES[path] = SharedTokenStore(
            path,
            Tokens(connection.access_token.get_secret_value(), connection.refresh_token.get_secret_value()),
            token_url=connection.token_url,
            client_id=connection.client_id,
            client_secret=connection.client_secret.get_secret_value() if connection.client_secret else None,
            limits=settings.worker.limits,
        )
    return _STORES[path]


def unpaired(state_dir: Path, connection: IteroConnection) -> ConnectionStatus | None:
    """The persisted un-paired state of `connection`, or None when it is active."""
    data = state_of(state_dir, connection).load()
    if data.get("status") != "unpaired":
        return None
    return ConnectionStatus.model_validate(data)


async def mark_unpaired(settings: Settings, bus: Bus, connection: IteroConnection, reason: str) -> bool:
    """Persist `unpaired` and publish `connection.reauthorization_needed`, once; False if already so."""
    async with _LOCK:
        if unpaired(settings.state_dir, connection) is not None:
            return False
        account = account_of(connection)
        status = ConnectionStatus(vendor=connection.vendor, account=account, connection=connection.id,
                                  status="unpaired", since=datetime.now(UTC), reason=reason)
        data = ReauthorizationNeeded(
            vendor=connection.vendor, account=account, connection=connection.id,
            reason="refresh_token_refused", detected_at=status.since,
            how=f"pair the account again, put the new tokens in the [[itero]] connection {connection.id!r}, "
                f"then run `scanbridge connections reset {connection.id}`",
        )
        event = vendor_event(CONNECTION_REAUTHORIZATION_NEEDED, vendor=connection.vendor, account=account,
                             subject=connection.id, version=status.since.isoformat(),
                             data=data.model_dump(mode="json"), time=status.since)
        await bus.publish(settings.bus.topics.events, event)  # first: the state alone would be silent
        state_of(settings.state_dir, connection).save(status.model_dump(mode="json"))
        log.warning("connection %s/%s is un-paired: re-authorization needed",
                    connection.vendor, connection.id)
        return True


def reset(state_dir: Path, connection: IteroConnection) -> bool:
    """Forget the un-paired state and the refreshed tokens, so the configured (new) tokens are used."""
    _STORES.pop(token_path(state_dir, connection), None)
    JsonState(token_path(state_dir, connection)).delete()
    return state_of(state_dir, connection).delete()
