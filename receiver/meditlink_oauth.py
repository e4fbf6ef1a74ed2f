"""Medit Link authorization-code redirect (meditlink-openapi.txt §1.2.1 Steps #3–#4; DESIGN.md §3: the
one vendor call the receiver makes).

GET /oauth/meditlink/callback?code=…&state=…: the `state` must be one `scanbridge connect meditlink`
issued (stored server-side, used once, 15 minutes); the code is exchanged at the token endpoint with
client Basic auth and the tokens are stored 0600 for the workers.
"""

from __future__ import annotations

import logging
import warnings

from authlib.integrations.base_client.errors import OAuthError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # authlib nudges towards httpx2 (DESIGN.md §8)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

import httpx

from receiver.errors import ApiError
from schemas.credentials import TokenRecord, save_tokens, take_state, token_path
from schemas.settings import Settings

log = logging.getLogger(__name__)

VENDOR = "meditlink"
PATH = "/oauth/meditlink/callback"
BASIC = "client_secret_basic"  # §1.2.1 Step #4: client id and secret as HTTP Basic


def routes(settings: Settings) -> list[Route]:
    connections = {c.id: c for c in settings.meditlink}

    async def redirect(request: Request) -> JSONResponse:
        params = request.query_params
        pending = take_state(settings.state_dir, params.get("state", ""))
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
                code=params["code"], redirect_uri=pending["redirect_uri"], state=params["state"],
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
