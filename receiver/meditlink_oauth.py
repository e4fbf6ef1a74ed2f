"""Medit Link authorization-code redirect (meditlink-openapi.txt §1.2.1 Steps #3–#4; DESIGN.md §3: the
one vendor call the receiver makes).

GET /oauth/meditlink/callback?code=…&state=…: the `state` must be one `scanbridge connect meditlink`
issued (stored server-side, used once, 15 minutes); the code is exchanged at the token endpoint with
client Basic auth and the tokens are stored 0600 for the workers.

A redirect without `state` (the doc's examples show `?code=…` only: §1.2.1 Step #3, FAQ "How can I manage
the Callback URL?") is refused (login CSRF) unless a connection opted in with `redirect_without_state`:
then the code is bound to the one authorization started for such a connection (narrowed by a
`connection` query parameter kept from the registered URL) in the last 5 minutes, and refused — those
authorizations dropped, so a fresh one can follow — when there is none or more than one.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from authlib.integrations.base_client.errors import OAuthError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # authlib nudges towards httpx2 (DESIGN.md §8)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

import httpx

from receiver.errors import ApiError
from schemas.credentials import (
    TokenRecord,
    recent_states,
    save_tokens,
    take_state,
    take_state_file,
    token_path,
)
from schemas.settings import Settings

log = logging.getLogger(__name__)

VENDOR = "meditlink"
PATH = "/oauth/meditlink/callback"
BASIC = "client_secret_basic"  # §1.2.1 Step #4: client id and secret as HTTP Basic
STATELESS_WINDOW_S = 300.0  # a redirect without `state` binds to an authorization this recent


def routes(settings: Settings) -> list[Route]:
    connections = {c.id: c for c in settings.meditlink}

    def stateless(wanted: str | None) -> dict[str, Any]:
        """The one recent authorization of an opted-in connection a redirect without `state` belongs to."""
        opted = {c.id for c in settings.meditlink if c.redirect_without_state and wanted in (None, c.id)}
        if not opted:
            raise ApiError(400, "state_mismatch", "the redirect carries no state; start again")
        found = recent_states(settings.state_dir, VENDOR, opted, STATELESS_WINDOW_S)
        taken = [p for p in (take_state_file(path) for path in found) if p is not None]
        if len(taken) != 1:
            log.warning("medit link redirect without state refused: %d recent authorizations", len(taken))
            raise ApiError(400, "state_missing", "the redirect carries no state and not exactly one "
                           "authorization was started in the last 5 minutes; start one again")
        return taken[0]

    async def redirect(request: Request) -> JSONResponse:
        params = request.query_params
        state = params.get("state") or None
        if state is None and (params.get("error") or not params.get("code")):
            raise ApiError(400, "authorization_refused", "authorization failed: no code")  # nothing consumed
        pending = take_state(settings.state_dir, state) if state else stateless(params.get("connection"))
        if pending is None or pending.get("vendor") != VENDOR or pending.get("connection") not in connections:
            raise ApiError(400, "state_mismatch", "unknown or expired authorization request; start again")
        connection = connections[pending["connection"]]
        if params.get("error") or not params.get("code"):
            reason = params.get("error", "no code")[:60]
            raise ApiError(400, "authorization_refused", f"authorization failed: {reason}")
        client = AsyncOAuth2Client(client_id=connection.client_id,
                                   client_secret=connection.client_secret.get_secret_value(),
                                   token_endpoint_auth_method=BASIC, timeout=30.0)
        try:
            token = await client.fetch_token(
                f"{connection.auth_url.rstrip('/')}/oauth/token", grant_type="authorization_code",
                code=params["code"], redirect_uri=pending["redirect_uri"], state=state,
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
        record = TokenRecord.from_token_response(dict(token))
        save_tokens(token_path(settings.state_dir, VENDOR, connection.id), record)
        log.info("medit link connection authorized", extra={"connection": connection.id})
        return JSONResponse({"connected": connection.id,
                             "message": "Medit Link account connected; you can close this window."})

    return [Route(PATH, redirect, methods=["GET"])]
