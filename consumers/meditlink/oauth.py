"""Medit Link OAuth2 grants of one connection, kept in the state store: password grant, the authorize URL
and its pending `state`, refresh before expiry and on 401 by the connection's token keeper
(meditlink-openapi.txt §1.2.1 Authorization Code, §1.2.3 Password Grant, §1.4 Refresh Token, FAQ "How to
handle token expiration": access 24 h, refresh 7 d, `invalid_grant` when refused). Token calls have the
default call deadline and a 1 MiB answer cap (`consumers.limits`).

The credentials' `extra` holds what Medit adds to a grant: `refresh_token_exp` (epoch seconds; the
answer's, else obtained + 7 d), `scope`, `obtained_at` and the `group_uuid` read once from `/v1/me`. A
refused refresh marks the connection `needs_reauthorization` (its health) until a new grant is stored.
"""

from __future__ import annotations

import logging
import secrets
import time
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # see consumers/tokens.py
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from consumers.errors import ServerError, Unauthorized
from consumers.http import translate_transport_errors
from consumers.limits import CappedTransport, within
from consumers.tokens import REFUSED_GRANTS, TokenKeeper, TokenKeepers, expires_within, oauth_refresh
from schemas.credentials import medit_grant
from schemas.settings import MeditConnection, VendorLimits
from state.base import ConnectionKey, Credentials, PendingAuthorization, StateStore

log = logging.getLogger(__name__)

VENDOR = "meditlink"
REFRESH_MARGIN_S = 300.0
STATE_TTL_S = 900.0  # an authorize URL is good for 15 minutes
BASIC = "client_secret_basic"  # the token endpoint authenticates the client by HTTP Basic


class ReauthorizationRequired(Unauthorized):
    """No usable grant: never connected, or the refresh token was refused (`invalid_grant`)."""


def key_of(connection: MeditConnection) -> ConnectionKey:
    return ConnectionKey(VENDOR, connection.id)


def token_url(connection: MeditConnection) -> str:
    return f"{connection.auth_url.rstrip('/')}/oauth/token"


def credentials_from(token: dict[str, Any], previous: Credentials | None = None) -> Credentials:
    """A token answer as credentials (`schemas.credentials.medit_grant`: the receiver reads it alike)."""
    grant = medit_grant(token, previous.refresh_token if previous else None,
                        previous.extra if previous else None)
    return Credentials(grant.access_token, grant.refresh_token, grant.expires_at, grant.extra)


def _margin(current: Credentials) -> float:
    """Refresh this long before the access token ends: a tenth of its life, at most five minutes."""
    obtained = float(current.extra.get("obtained_at") or 0.0)
    if current.expires_at is None or not obtained:
        return REFRESH_MARGIN_S
    return min(REFRESH_MARGIN_S, max(0.0, (current.expires_at.timestamp() - obtained) / 10))


def keeper(keepers: TokenKeepers, connection: MeditConnection,
           limits: VendorLimits | None = None) -> TokenKeeper:
    """The connection's token keeper (shared by its handler and poller in this process)."""
    key = key_of(connection)

    async def refused(exc: Unauthorized) -> None:
        await keepers.state.connections.record_failure(key, "needs_reauthorization", str(exc))
        log.warning("medit link refresh token refused; connection needs re-authorization",
                    extra={"connection": connection.id})

    def build() -> TokenKeeper:
        grant = oauth_refresh(token_url(connection), vendor=VENDOR, client_id=connection.client_id,
                              client_secret=connection.client_secret.get_secret_value(), auth_method=BASIC,
                              refused=ReauthorizationRequired, answer=credentials_from, limits=limits)
        return TokenKeeper(keepers.store, key, [connection.api_url], grant=grant,
                           expiring=expires_within(_margin), refused=ReauthorizationRequired,
                           on_refused=refused)

    return keepers.get(key, connection, build)


async def require_usable(state: StateStore, connection: MeditConnection) -> None:
    """ReauthorizationRequired when a refresh was refused and no new grant came since."""
    if (await state.connections.health(key_of(connection))).status == "needs_reauthorization":
        raise ReauthorizationRequired(f"connection {connection.id!r} needs re-authorization")


async def _token_call(connection: MeditConnection, what: str, **params: Any) -> dict[str, Any]:
    client = AsyncOAuth2Client(client_id=connection.client_id,
                               client_secret=connection.client_secret.get_secret_value(),
                               token_endpoint_auth_method=BASIC, timeout=30.0, transport=CappedTransport())
    try:
        async with within(VendorLimits().call_deadline_s, what):
            with translate_transport_errors():
                token = await client.fetch_token(token_url(connection), **params)
    except OAuthError as exc:
        if exc.error in REFUSED_GRANTS:
            message = f"{what} refused ({exc.error}): authorize the connection again"
            raise ReauthorizationRequired(message) from exc
        raise ServerError(f"{what} failed: {exc.error}") from exc
    except ValueError as exc:
        raise ServerError(f"{what}: token answer unreadable") from exc
    finally:
        await client.aclose()
    return dict(token)


async def store_grant(state: StateStore, connection: MeditConnection, token: dict[str, Any]) -> Credentials:
    """A new grant replaces any earlier one (a refresh running meanwhile then loses its compare-and-set
    and does not bury it); the connection is usable again and its earlier reports are cleared."""
    key = key_of(connection)
    stored = await state.credentials.put(key, credentials_from(token))
    await state.connections.record_success(key)
    await state.sets.remove(key, "reported", await state.sets.members(key, "reported"))
    return stored


async def password_grant(connection: MeditConnection, username: str, password: str) -> dict[str, Any]:
    """§1.2.3: for service accounts; the password is used once and never stored."""
    return await _token_call(connection, "password grant", grant_type="password", username=username,
                             password=password, scope=" ".join(connection.scopes))


async def connect_with_password(state: StateStore, connection: MeditConnection, username: str,
                                password: str) -> Credentials:
    """The password grant's tokens replace any earlier grant of the connection."""
    return await store_grant(state, connection, await password_grant(connection, username, password))


def redirect_uri(connection: MeditConnection, public_url: str) -> str:
    return connection.redirect_uri or f"{public_url.rstrip('/')}/oauth/meditlink/callback"


async def authorize_url(state: StateStore, connection: MeditConnection, public_url: str,
                        extra: Mapping[str, Any] | None = None) -> str:
    """§1.2.1 Step #1: the URL a person opens; its `state` waits in the state store (15 minutes) for the
    redirect, which any host's receiver may take. `extra` rides along (the console's `return_to`)."""
    uri = redirect_uri(connection, public_url)
    value = secrets.token_urlsafe(24)
    await state.oauth.put(value, PendingAuthorization(key_of(connection), uri, dict(extra or {})),
                          ttl_s=STATE_TTL_S)
    query = urlencode({"client_id": connection.client_id, "response_type": "code", "redirect_uri": uri,
                       "scope": " ".join(connection.scopes), "state": value}, quote_via=quote)
    return f"{connection.auth_url.rstrip('/')}/oauth/authorize?{query}"


def expiry_to_report(current: Credentials, connection: MeditConnection) -> float | None:
    """The refresh token's expiry (epoch seconds) if it falls within the warning window."""
    exp = current.extra.get("refresh_token_exp")
    if not isinstance(exp, int | float):
        return None
    return float(exp) if exp - time.time() <= connection.reauthorize_warning_s else None
