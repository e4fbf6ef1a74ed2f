"""Pairing of iTero / Align connections: the connection's token keeper, and the un-paired state — a 401
the refresh-token exchange could not cure — kept as the connection's health in the state store,
announced once by whichever process or host saw it first, honoured by poller and worker (Align lab
guideline §3.8 Pair and Un-pair; itero-dpms-api.txt Prerequisites)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bus.base import Bus
from consumers.tokens import TokenKeeper, TokenKeepers, oauth_refresh
from schemas.envelope import Envelope
from schemas.eventfactory import vendor_event
from schemas.events import ReauthorizationNeeded
from schemas.settings import IteroConnection, VendorLimits
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED, Topics
from state.base import ConnectionKey, Credentials, Health, StateStore

log = logging.getLogger(__name__)

REPORTED = "reported"  # the set of reports made for a connection (a claim each: one reporter anywhere)
UNPAIRED_CLAIM = "unpaired"


def key_of(connection: IteroConnection) -> ConnectionKey:
    return ConnectionKey(connection.vendor, connection.id)


def account_of(connection: IteroConnection, company_id: str | None = None) -> str:
    """The account label of events, as the receiver derives it (CompanyId, else the connection id)."""
    return connection.company_id or company_id or connection.id


def api_urls(connection: IteroConnection) -> list[str]:
    """Where the pairing token may go: the configured API URLs (Align §3.2: every URL configurable)."""
    configured = (connection.base_url, connection.discovery_domain, connection.lab_orders_url)
    return [url for url in configured if url]


def keeper(keepers: TokenKeepers, connection: IteroConnection,
           limits: VendorLimits | None = None) -> TokenKeeper:
    """The connection's token keeper; the configured pair seeds the store the first time."""
    key = key_of(connection)

    def build() -> TokenKeeper:
        secret = connection.client_secret.get_secret_value() if connection.client_secret else None
        seed = Credentials(connection.access_token.get_secret_value(),
                           connection.refresh_token.get_secret_value())
        grant = oauth_refresh(connection.token_url, vendor=connection.vendor, client_id=connection.client_id,
                              client_secret=secret, limits=limits)
        return TokenKeeper(keepers.store, key, api_urls(connection), seed=seed, grant=grant)

    return keepers.get(key, connection, build)


async def unpaired(state: StateStore, connection: IteroConnection) -> Health | None:
    """The connection's health when it is un-paired, else None."""
    health = await state.connections.health(key_of(connection))
    return health if health.status == "unpaired" else None


async def mark_unpaired(state: StateStore, bus: Bus, topics: Topics, connection: IteroConnection,
                        reason: str) -> bool:
    """Record `unpaired` and publish `connection.reauthorization_needed` once across every process and
    host (the first to claim the report publishes; if it cannot, it gives the claim back); True if this
    call published."""
    key = key_of(connection)
    await state.connections.record_failure(key, "unpaired", reason)
    if not await state.sets.add(key, REPORTED, [UNPAIRED_CLAIM]):
        return False
    try:
        await bus.publish(topics.events, _event(connection, datetime.now(UTC)))
    except BaseException:
        await state.sets.remove(key, REPORTED, [UNPAIRED_CLAIM])
        raise
    log.warning("connection %s/%s is un-paired: re-authorization needed", connection.vendor, connection.id)
    return True


def _event(connection: IteroConnection, since: datetime) -> Envelope:
    account = account_of(connection)
    data = ReauthorizationNeeded(
        vendor=connection.vendor, account=account, connection=connection.id,
        reason="refresh_token_refused", detected_at=since,
        how=f"pair the account again, put the new tokens in the {connection.vendor} connection "
            f"{connection.id!r} (the TOML or `scanbridge connections add --replace`), then run "
            f"`scanbridge connections reset {connection.vendor}/{connection.id}`",
    )
    return vendor_event(CONNECTION_REAUTHORIZATION_NEEDED, vendor=connection.vendor, account=account,
                        subject=connection.id, version=since.isoformat(), data=data.model_dump(mode="json"),
                        time=since)


async def reset(state: StateStore, key: ConnectionKey) -> bool:
    """Forget the un-paired state and the refreshed tokens, so the configured (new) pair is used; True
    when the connection was un-paired."""
    was = (await state.connections.health(key)).status == "unpaired"
    await state.credentials.delete(key)
    await state.sets.remove(key, REPORTED, [UNPAIRED_CLAIM])
    await state.connections.clear_health(key)
    return was
