"""Medit Link OAuth2 tokens of one connection: password grant, refresh before expiry and on 401, under
one lock per connection in the process (meditlink-openapi.txt §1.2.3 Password Grant, §1.4 Refresh
Token, FAQ "How to handle token expiration": access 24 h, refresh 7 d, `invalid_grant` when refused).
Token calls have the default call deadline and a 1 MiB answer cap (`consumers.limits`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # see consumers/tokens.py
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from consumers.errors import ServerError, Unauthorized
from consumers.http import translate_transport_errors
from consumers.limits import CappedTransport, within
from consumers.metrics import TOKEN_REFRESHES
from schemas.credentials import TokenRecord, load_tokens, new_state, save_tokens, token_path
from schemas.settings import MeditConnection, VendorLimits

log = logging.getLogger(__name__)

VENDOR = "meditlink"
REFRESH_MARGIN_S = 300.0
BASIC = "client_secret_basic"  # the token endpoint authenticates the client by HTTP Basic


class ReauthorizationRequired(Unauthorized):
    """No usable grant: never connected, or the refresh token was refused (`invalid_grant`)."""


def oauth_client(connection: MeditConnection, **kwargs: Any) -> AsyncOAuth2Client:
    """Client authentication by HTTP Basic at the token endpoint (§1.2.1 Step #4, §1.2.3)."""
    return AsyncOAuth2Client(client_id=connection.client_id,
                             client_secret=connection.client_secret.get_secret_value(),
                             token_endpoint_auth_method=BASIC, timeout=30.0,
                             transport=CappedTransport(), **kwargs)


def token_url(connection: MeditConnection) -> str:
    return f"{connection.auth_url.rstrip('/')}/oauth/token"


async def _token_call(connection: MeditConnection, what: str, **params: Any) -> dict[str, Any]:
    client = oauth_client(connection)
    try:
        async with within(VendorLimits().call_deadline_s, what):
            with translate_transport_errors():
                if "refresh_token" in params:
                    token = await client.refresh_token(token_url(connection), **params)
                else:
                    token = await client.fetch_token(token_url(connection), **params)
    except OAuthError as exc:
        if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
            message = f"{what} refused ({exc.error}): authorize the connection again"
            raise ReauthorizationRequired(message) from exc
        raise ServerError(f"{what} failed: {exc.error}") from exc
    except ValueError as exc:
        raise ServerError(f"{what}: token answer unreadable") from exc
    finally:
        await client.aclose()
    return dict(token)


async def password_grant(connection: MeditConnection, username: str, password: str) -> TokenRecord:
    """§1.2.3: for service accounts; the password is used once and never stored."""
    token = await _token_call(connection, "password grant", grant_type="password", username=username,
                              password=password, scope=" ".join(connection.scopes))
    return TokenRecord.from_token_response(token)


class MeditTokens:
    """The grant of one connection, shared by its handler and poller in this process."""

    def __init__(self, path: Path, connection: MeditConnection) -> None:
        self.path = path
        self.connection = connection
        self.lock = asyncio.Lock()
        self._record: TokenRecord | None = None
        self._mtime: float | None = None

    def record(self) -> TokenRecord:
        """The current grant, re-read when another process (connect, receiver) replaced the file."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime or self._record is None:
            self._record, self._mtime = load_tokens(self.path), mtime
        if self._record is None:
            raise ReauthorizationRequired(f"connection {self.connection.id!r} is not connected: "
                                          "run `scanbridge connect meditlink`")
        return self._record

    def _store(self, record: TokenRecord) -> None:
        save_tokens(self.path, record)
        self._record, self._mtime = record, self.path.stat().st_mtime

    def update(self, **changes: Any) -> TokenRecord:
        record = self.record().model_copy(update=changes)
        self._store(record)
        return record

    async def access_token(self) -> str:
        record = self.record()
        if record.needs_reauthorization:
            raise ReauthorizationRequired(f"connection {self.connection.id!r} needs re-authorization")
        margin = min(REFRESH_MARGIN_S, max(0.0, (record.expires_at - record.obtained_at) / 10))
        if time.time() >= record.expires_at - margin:
            return await self.refresh(record.access_token)
        return record.access_token

    async def refresh(self, stale_access_token: str) -> str:
        """Refresh once for every caller that saw `stale_access_token` rejected or expiring."""
        async with self.lock:
            record = self.record()
            if record.access_token != stale_access_token and not record.needs_reauthorization:
                return record.access_token  # another task already refreshed
            if record.needs_reauthorization:
                raise ReauthorizationRequired(f"connection {self.connection.id!r} needs re-authorization")
            try:
                token = await _token_call(self.connection, "token refresh",
                                          refresh_token=record.refresh_token)
            except ReauthorizationRequired:
                TOKEN_REFRESHES.labels(VENDOR, "refused").inc()
                self.update(needs_reauthorization=True)
                log.warning("medit link refresh token refused; connection needs re-authorization",
                            extra={"connection": self.connection.id})
                raise
            except ServerError:
                TOKEN_REFRESHES.labels(VENDOR, "error").inc()
                raise
            fresh = TokenRecord.from_token_response(token, previous=record)
            self._store(fresh.model_copy(update={"reported_refresh_exp": record.reported_refresh_exp}))
            TOKEN_REFRESHES.labels(VENDOR, "ok").inc()
            log.info("medit link access token refreshed", extra={"connection": self.connection.id})
            return fresh.access_token

    def expiry_to_report(self) -> float | None:
        """The refresh token's expiry if it is within the warning window and not yet reported."""
        record = self.record()
        exp = record.refresh_token_exp
        if exp is None or record.needs_reauthorization or record.reported_refresh_exp == exp:
            return None
        return exp if exp - time.time() <= self.connection.reauthorize_warning_s else None


_KEEPERS: dict[Path, MeditTokens] = {}


def tokens_for(state_dir: Path, connection: MeditConnection) -> MeditTokens:
    """One keeper (and so one refresh lock) per connection per process."""
    path = token_path(state_dir, VENDOR, connection.id).resolve()
    keeper = _KEEPERS.get(path)
    if keeper is None or keeper.connection != connection:
        keeper = _KEEPERS[path] = MeditTokens(path, connection)
    return keeper


def redirect_uri(connection: MeditConnection, public_url: str) -> str:
    return connection.redirect_uri or f"{public_url.rstrip('/')}/oauth/meditlink/callback"


def authorize_url(connection: MeditConnection, state_dir: Path, public_url: str) -> str:
    """§1.2.1 Step #1: the URL a person opens; its `state` is kept server-side for the redirect route."""
    uri = redirect_uri(connection, public_url)
    state = new_state(state_dir, VENDOR, connection.id, uri)
    query = urlencode({"client_id": connection.client_id, "response_type": "code", "redirect_uri": uri,
                       "scope": " ".join(connection.scopes), "state": state}, quote_via=quote)
    return f"{connection.auth_url.rstrip('/')}/oauth/authorize?{query}"


async def connect_with_password(connection: MeditConnection, state_dir: Path, username: str,
                                password: str) -> TokenRecord:
    """§1.2.3 password grant for a service account; the tokens replace any earlier grant."""
    record = await password_grant(connection, username, password)
    save_tokens(token_path(state_dir, VENDOR, connection.id), record)
    _KEEPERS.pop(token_path(state_dir, VENDOR, connection.id).resolve(), None)
    return record
