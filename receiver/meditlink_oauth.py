"""Medit Link authorization-code redirect (meditlink-openapi.txt §1.2.1 Steps #3–#4; DESIGN.md §3: the
one vendor call the receiver makes).

GET /oauth/meditlink/callback?code=…&state=…: the `state` must be one `scanbridge connect meditlink`
issued (kept in the state store, used once, 15 minutes: any host's receiver can finish an authorization
another host started); the code is exchanged at the token endpoint with client Basic auth and the tokens
are stored, sealed, in the state store for every worker and poller. An authorization the console
started (its pending `extra` holds `return_to`) sends the browser back to the console's page.

A redirect without `state` (the doc's examples show `?code=…` only: §1.2.1 Step #3, FAQ "How can I manage
the Callback URL?") is refused (login CSRF) unless a connection opted in with `redirect_without_state`:
then the code is bound to the one authorization started for such a connection (narrowed by a
`connection` query parameter kept from the registered URL) in the last 5 minutes, and refused — those
authorizations dropped, so a fresh one can follow — when there is none or more than one.
"""

from __future__ import annotations

import logging
import warnings

from authlib.integrations.base_client.errors import OAuthError
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # authlib nudges towards httpx2 (DESIGN.md §8)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

import httpx

from receiver.errors import ApiError
from schemas.credentials import medit_grant
from schemas.settings import MeditConnection, Settings
from state.base import ConnectionKey, Credentials, PendingAuthorization, StateStore
from state.shared import SharedLink

log = logging.getLogger(__name__)

VENDOR = "meditlink"
PATH = "/oauth/meditlink/callback"
BASIC = "client_secret_basic"  # §1.2.1 Step #4: client id and secret as HTTP Basic
STATELESS_WINDOW_S = 300.0  # a redirect without `state` binds to an authorization this recent


async def _stateless(store: StateStore, known: list[MeditConnection],
                     wanted: str | None) -> PendingAuthorization:
    """The one recent authorization of an opted-in connection a redirect without `state` belongs to."""
    opted = {c.id for c in known if c.redirect_without_state and wanted in (None, c.id)}
    if not opted:
        raise ApiError(400, "state_mismatch", "the redirect carries no state; start again")
    taken = await store.oauth.take_recent(VENDOR, opted, STATELESS_WINDOW_S)
    if len(taken) != 1:
        log.warning("medit link redirect without state refused: %d recent authorizations", len(taken))
        raise ApiError(400, "state_missing", "the redirect carries no state and not exactly one "
                       "authorization was started in the last 5 minutes; start one again")
    return taken[0]


async def _store_grant(store: StateStore, key: ConnectionKey, token: dict[str, object]) -> None:
    """As `consumers.meditlink.oauth.store_grant`: replace any earlier grant, the connection is usable
    again, its earlier re-authorization reports are cleared."""
    grant = medit_grant(token)
    await store.credentials.put(key, Credentials(grant.access_token, grant.refresh_token, grant.expires_at,
                                                 grant.extra))
    await store.connections.record_success(key)
    await store.sets.remove(key, "reported", await store.sets.members(key, "reported"))


def routes(settings: Settings, shared: SharedLink) -> list[Route]:
    async def redirect(request: Request) -> Response:
        params = request.query_params
        state = params.get("state") or None
        if state is None and (params.get("error") or not params.get("code")):
            raise ApiError(400, "authorization_refused", "authorization failed: no code")  # nothing consumed
        now_shared = shared()
        store = now_shared.store
        known = now_shared.catalog.of(MeditConnection)
        connections = {c.id: c for c in known}
        pending = await store.oauth.take(state) if state else await _stateless(store, known,
                                                                                params.get("connection"))
        if pending is None or pending.key.vendor != VENDOR or pending.key.id not in connections:
            raise ApiError(400, "state_mismatch", "unknown or expired authorization request; start again")
        connection = connections[pending.key.id]
        if params.get("error") or not params.get("code"):
            reason = params.get("error", "no code")[:60]
            raise ApiError(400, "authorization_refused", f"authorization failed: {reason}")
        client = AsyncOAuth2Client(client_id=connection.client_id,
                                   client_secret=connection.client_secret.get_secret_value(),
                                   token_endpoint_auth_method=BASIC, timeout=30.0)
        try:
            token = await client.fetch_token(
                f"{connection.auth_url.rstrip('/')}/oauth/token", grant_type="authorization_code",
                code=params["code"], redirect_uri=pending.redirect_uri, state=state,
            )
        except OAuthError as exc:
            log.warning("medit link code exchange refused", extra={"connection": connection.id})
            raise ApiError(400, "exchange_refused", f"the token endpoint refused: {exc.error}") from None
        except (httpx.HTTPError, ValueError):
            log.warning("medit link token endpoint unreachable", extra={"connection": connection.id})
            raise ApiError(502, "token_endpoint_unavailable", "token endpoint unreachable") from None
        finally:
            await client.aclose()
        # The group uuid is read again from /v1/me by the workers: the account may be another one.
        try:
            await _store_grant(store, pending.key, dict(token))
        except ValueError:
            raise ApiError(502, "exchange_refused", "the token endpoint answered without tokens") from None
        log.info("medit link connection authorized", extra={"connection": connection.id})
        back = pending.extra.get("return_to")
        if isinstance(back, str) and back.startswith(("http://", "https://")):  # the console's, not the URL's
            return RedirectResponse(f"{back}?note=connected", 303)
        return JSONResponse({"connected": connection.id,
                             "message": "Medit Link account connected; you can close this window."})

    return [Route(PATH, redirect, methods=["GET"])]
