"""One token keeper per connection: its bearer token from the state store, sent as an `httpx.Auth`
(DESIGN.md §7; STYLE.md "Refresh-on-401 … httpx's `Auth.auth_flow` is the model").

The keeper is an `origin.OriginScope`: the token goes only to the connection's API origins. A 401 from
one of them is answered inside the auth flow: the token is refreshed once and the request sent again; a
second 401 reaches the caller (`raise_for_status` makes it `Unauthorized`). A token the vendor says
expires soon (`expiring`) is refreshed before it is used.

A refresh is single-flight across every process and host (`CredentialStore.refresh`): under the store's
lock the credentials are read again and the vendor is called only if they are still the stale ones, so a
rotating refresh token (OAuth 2.1: a used one is refused ever after) is never spent twice. A refresh the
vendor refuses (`invalid_grant`) raises the keeper's `refused` error and writes nothing; the keeper does
not offer the same refused grant again in this process. The token call has the vendor call deadline and
its answer a byte cap (`consumers.limits`); refreshes are counted by vendor and outcome.

The credentials are cached in the process; another process's refresh shows as a 401 (or as expiry) and
the re-read under the lock finds the new pair without calling the vendor.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError

with warnings.catch_warnings():
    # authlib ≥ 1.7 nudges towards httpx2; we stay on httpx 0.28 (DESIGN.md §12, decided once here).
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from consumers.errors import ServerError, Unauthorized, VendorError
from consumers.http import translate_transport_errors
from consumers.limits import CappedTransport, within
from consumers.metrics import TOKEN_REFRESHES
from consumers.origin import OriginScope
from schemas.settings import VendorLimits
from state.base import ConnectionKey, Credentials, CredentialStore, StateStore
from state.errors import CredentialsMissing, VersionConflict

log = logging.getLogger(__name__)

Grant = Callable[[Credentials], Awaitable[Credentials]]  # the vendor's refresh: new credentials
Answer = Callable[[dict[str, Any], Credentials | None], Credentials]  # a token answer → credentials
REFUSED_GRANTS = ("invalid_grant", "invalid_client", "unauthorized_client")
CAS_ATTEMPTS = 5


def credentials_of(token: dict[str, Any], previous: Credentials | None = None) -> Credentials:
    """A token endpoint answer as credentials: a missing refresh token keeps the previous one, an
    `expires_in` becomes an absolute expiry, the previous `extra` is kept."""
    refresh = token.get("refresh_token") or (previous.refresh_token if previous else None)
    expires_in = token.get("expires_in")
    expires_at = (datetime.now(UTC) + timedelta(seconds=float(expires_in))) if expires_in else None
    return Credentials(str(token["access_token"]), None if refresh is None else str(refresh), expires_at,
                       dict(previous.extra) if previous else {})


def oauth_refresh(token_url: str, *, vendor: str, client_id: str | None = None,
                  client_secret: str | None = None, auth_method: str = "client_secret_basic",
                  refused: type[Unauthorized] = Unauthorized, answer: Answer = credentials_of,
                  limits: VendorLimits | None = None, what: str = "token refresh") -> Grant:
    """The OAuth2 `refresh_token` grant made with authlib, as a keeper's `grant`."""
    deadline_s = (limits or VendorLimits()).call_deadline_s

    async def grant(current: Credentials) -> Credentials:
        if not current.refresh_token:
            raise refused(f"{what}: no refresh token; authorize the connection again")
        client = AsyncOAuth2Client(client_id=client_id, client_secret=client_secret,
                                   token_endpoint_auth_method=auth_method, timeout=30.0,
                                   transport=CappedTransport())
        try:
            async with within(deadline_s, what):
                with translate_transport_errors():
                    token = await client.refresh_token(token_url, refresh_token=current.refresh_token)
            fresh = answer(dict(token), current)
        except OAuthError as exc:
            refusal = exc.error in REFUSED_GRANTS
            TOKEN_REFRESHES.labels(vendor, "refused" if refusal else "error").inc()
            if refusal:
                raise refused(f"{what} refused ({exc.error}): re-authorization needed") from exc
            raise ServerError(f"{what} failed: {exc.error}") from exc
        except (ValueError, KeyError) as exc:  # a non-JSON or malformed answer
            TOKEN_REFRESHES.labels(vendor, "error").inc()
            raise ServerError(f"{what}: token answer unreadable") from exc
        except VendorError:  # the token endpoint unreachable or too slow
            TOKEN_REFRESHES.labels(vendor, "error").inc()
            raise
        finally:
            await client.aclose()
        TOKEN_REFRESHES.labels(vendor, "ok").inc()
        return fresh

    return grant


class TokenKeeper(OriginScope):
    """The bearer token of one connection, for its API `origins` only."""

    def __init__(self, store: CredentialStore, key: ConnectionKey, origins: Iterable[str], *, grant: Grant,
                 seed: Credentials | None = None, expiring: Callable[[Credentials], bool] | None = None,
                 refused: type[Unauthorized] = Unauthorized,
                 on_refused: Callable[[Unauthorized], Awaitable[None]] | None = None) -> None:
        super().__init__(origins)
        self.store = store
        self.key = key
        self._grant = grant
        self._seed = seed
        self._expiring = expiring or (lambda _c: False)
        self._refused = refused
        self._on_refused = on_refused
        self._cached: Credentials | None = None
        self._refusal: tuple[int, str] | None = None  # the credentials whose refresh was refused, and why

    async def credentials(self) -> Credentials:
        """The cached credentials, else the store's; a connection configured with tokens (iTero, Align)
        writes them to the store the first time. `refused` when there are none (never authorized)."""
        if self._cached is None:
            self._cached = await self._read()
        return self._cached

    async def _read(self) -> Credentials:
        found = await self.store.get(self.key)
        if found is None and self._seed is not None:
            try:
                found = await self.store.put(self.key, self._seed, if_version=0)
            except VersionConflict:  # another process seeded it first
                found = await self.store.get(self.key)
        if found is None:
            raise self._refused(f"connection {self.key} holds no credentials: authorize it first")
        return found

    def forget(self) -> None:
        """Read the store again next time (a new grant was written elsewhere)."""
        self._cached = None

    async def access_token(self) -> str:
        current = await self.credentials()
        if self._expiring(current):
            current = await self.refresh(current.access_token)
        return current.access_token

    async def refresh(self, stale_access_token: str) -> Credentials:
        """Fresh credentials for every caller that saw `stale_access_token` refused or expiring; the
        vendor is called once, whichever process or host gets there first."""

        def needed(current: Credentials) -> bool:
            return current.access_token == stale_access_token or self._expiring(current)

        async def grant(current: Credentials) -> Credentials:
            if self._refusal is not None and self._refusal[0] == current.version:
                raise self._refused(self._refusal[1])  # not offered to the vendor again
            try:
                fresh = await self._grant(current)
            except Unauthorized as exc:
                self._refusal = (current.version, str(exc))
                if self._on_refused is not None:
                    await self._on_refused(exc)
                raise
            log.info("access token refreshed", extra={"connection": str(self.key)})
            return fresh

        await self.credentials()  # a configured pair is in the store before it can be refreshed
        try:
            self._cached = await self.store.refresh(self.key, needed, grant)
        except CredentialsMissing:  # forgotten meanwhile (`connections reset`): start from the seed
            self._cached = await self._read()
        return self._cached

    async def update_extra(self, **changes: Any) -> Credentials:
        """Merge `changes` into the credentials' `extra` (compare-and-set, retried on a concurrent write)."""
        for _ in range(CAS_ATTEMPTS):
            current = await self._read()
            merged = Credentials(current.access_token, current.refresh_token, current.expires_at,
                                 {**current.extra, **changes}, current.version)
            try:
                self._cached = await self.store.put(self.key, merged, if_version=current.version)
                return self._cached
            except VersionConflict:
                continue
        raise VersionConflict(f"credentials of connection {self.key} kept changing")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.check(request.url)
        if not self.carries_secret(request.url):
            request.headers.pop("Authorization", None)
            yield request
            return
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = await self.refresh(token)
            request.headers["Authorization"] = f"Bearer {fresh.access_token}"
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("a TokenKeeper reads the state store: use it with an httpx.AsyncClient")


class TokenKeepers:
    """One keeper per connection in this process, shared by its worker handler and its poller, built
    again when the connection's settings change (the catalog reloaded it)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.store: CredentialStore = state.credentials
        self._keepers: dict[ConnectionKey, tuple[object, TokenKeeper]] = {}

    def get(self, key: ConnectionKey, connection: object, build: Callable[[], TokenKeeper]) -> TokenKeeper:
        found = self._keepers.get(key)
        if found is None or found[0] != connection:
            found = self._keepers[key] = (connection, build())
        return found[1]

    def forget(self, key: ConnectionKey) -> None:
        self._keepers.pop(key, None)


def expires_within(margin_s: Callable[[Credentials], float]) -> Callable[[Credentials], bool]:
    """`expiring` for a keeper: true once the access token is within `margin_s(credentials)` of its end."""

    def expiring(current: Credentials) -> bool:
        if current.expires_at is None:
            return False
        return time.time() >= current.expires_at.timestamp() - margin_s(current)

    return expiring
