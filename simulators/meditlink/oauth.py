"""The authorization server: `/oauth/authorize`, `/oauth/token`, `/oauth/check_token`
(meditlink-openapi.txt §1.2 Get Token, §1.3 Check Token, §1.4 Refresh Token, FAQ Authentication).

The simulator skips the log-in and consent pages: authorize redirects at once as `authorize_as`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
import uuid
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from simulators.meditlink.errors import MeditError
from simulators.meditlink.records import AccessToken, AuthCode, Client, RefreshToken
from simulators.meditlink.state import MeditSimState

_ALNUM = string.ascii_letters + string.digits
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _code() -> str:
    """A 32-character alphanumeric authorization code (§1.1.1)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(32))


def _with_params(url: str, params: dict[str, str], fragment: bool = False) -> str:
    """FAQ "How can I manage the Callback URL?": `?type=medit` becomes `?type=medit&code=…`."""
    if fragment:
        return f"{url}#{urlencode(params)}"
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def _scopes(client: Client, requested: str | None) -> tuple[str, ...] | None:
    """The granted scopes, or None if a requested scope is not the client's."""
    if not requested:
        return client.scopes
    wanted = tuple(requested.replace(",", " ").split())
    return wanted if set(wanted) <= set(client.scopes) else None


def _client(state: MeditSimState, request: Request) -> Client:
    """HTTP Basic client authentication (§1.2.3 "Basic authentication must be created using client_id
    and client_secret"); anything else is 401 invalid_client."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    unauthorized = MeditError(
        401, "invalid_client", "Bad client credentials", {"WWW-Authenticate": 'Basic realm="oauth2/client"'}
    )
    if scheme.lower() != "basic":
        raise unauthorized
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized from None
    client = state.clients.get(client_id)
    if client is None or not secrets.compare_digest(client.client_secret, secret):
        raise unauthorized
    return client


def issue(
    state: MeditSimState, client_id: str, email: str, scopes: tuple[str, ...], refresh: RefreshToken | None
) -> dict[str, object]:
    """New access token; a new refresh token unless one is being used and rotation is off."""
    now = state.now()
    if refresh is None or state.rotate_refresh_tokens:
        if refresh is not None:
            refresh.revoked = refresh.spent = True
        refresh = RefreshToken(str(uuid.uuid4()), client_id, email, scopes, now + state.refresh_ttl_s)
        state.refresh_tokens[refresh.value] = refresh
    access = AccessToken(str(uuid.uuid4()), client_id, email, scopes, now + state.access_ttl_s, refresh.value)
    state.access_tokens[access.value] = access
    return {
        "access_token": access.value,
        "token_type": "bearer",
        "refresh_token": refresh.value,
        "expires_in": int(state.access_ttl_s),
        "scope": " ".join(scopes),
        "refresh_token_exp": int(refresh.expires_at),  # epoch seconds, as in the examples
    }


async def authorize(request: Request) -> Response:
    state: MeditSimState = request.app.state.sim
    params = request.query_params
    client = state.clients.get(params.get("client_id", ""))
    redirect_uri = params.get("redirect_uri", "")
    if client is None:
        raise MeditError(400, "invalid_client", "Unknown client")
    if not redirect_uri or (client.redirect_uris and redirect_uri not in client.redirect_uris):
        raise MeditError(
            400, "invalid_request", "Invalid redirect: does not match the registered callback URL"
        )
    # §1.2.1 Step #3 and the FAQ's callback examples show the redirect with `code` only.
    echo = {"state": params["state"]} if "state" in params and state.echo_state else {}
    scopes = _scopes(client, params.get("scope"))
    if scopes is None:
        return RedirectResponse(_with_params(redirect_uri, {"error": "invalid_scope", **echo}), 302)
    user = state.users[state.authorize_as]
    response_type = params.get("response_type")
    if response_type == "code":
        code = AuthCode(
            _code(), client.client_id, user.email, scopes, redirect_uri, state.now() + state.code_ttl_s
        )
        state.codes[code.value] = code
        return RedirectResponse(_with_params(redirect_uri, {"code": code.value, **echo}), 302)
    if response_type == "token":  # §1.2.2 implicit grant: token in the fragment, no refresh token
        token = issue(state, client.client_id, user.email, scopes, None)
        fragment = {"access_token": str(token["access_token"]), "token_type": "bearer", **echo}
        fragment["expires_in"] = str(token["expires_in"])
        return RedirectResponse(_with_params(redirect_uri, fragment, fragment=True), 302)
    return RedirectResponse(_with_params(redirect_uri, {"error": "unsupported_response_type", **echo}), 302)


async def _params(request: Request) -> dict[str, str]:
    """Token parameters from the query string (§1.4 example) and the form body (§1.2.1 example)."""
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    return params


def _grant_code(state: MeditSimState, client: Client, params: dict[str, str]) -> dict[str, object]:
    value = params.get("code", "")
    code = state.codes.get(value)
    if code is None or code.used or code.client_id != client.client_id or code.expires_at <= state.now():
        raise MeditError(400, "invalid_grant", f"Invalid authorization code: {value}")
    if params.get("redirect_uri", code.redirect_uri) != code.redirect_uri:
        raise MeditError(400, "invalid_grant", "Redirect URI mismatch.")
    code.used = True
    return issue(state, client.client_id, code.email, code.scopes, None)


def _grant_password(state: MeditSimState, client: Client, params: dict[str, str]) -> dict[str, object]:
    user = state.users.get(params.get("username", ""))
    if user is None or not secrets.compare_digest(user.password, params.get("password", "")):
        raise MeditError(400, "invalid_grant", "Bad credentials")
    scopes = _scopes(client, params.get("scope"))
    if scopes is None:
        raise MeditError(400, "invalid_scope", f"Invalid scope: {params.get('scope')}")
    return issue(state, client.client_id, user.email, scopes, None)


def _grant_refresh(state: MeditSimState, client: Client, params: dict[str, str]) -> dict[str, object]:
    value = params.get("refresh_token", "")
    refresh = state.refresh_tokens.get(value)
    if refresh is not None and refresh.spent:
        state.refresh_reuse += 1  # two refreshes of one grant: the second gets invalid_grant
    if refresh is None or refresh.revoked or refresh.client_id != client.client_id:
        raise MeditError(400, "invalid_grant", f"Invalid refresh token: {value}")
    if refresh.expires_at <= state.now():
        raise MeditError(400, "invalid_grant", f"Invalid refresh token (expired): {value}")
    return issue(state, client.client_id, refresh.email, refresh.scopes, refresh)


_GRANTS = {"authorization_code": _grant_code, "password": _grant_password, "refresh_token": _grant_refresh}


async def token(request: Request) -> Response:
    state: MeditSimState = request.app.state.sim
    client = _client(state, request)
    params = await _params(request)
    grant_type = params.get("grant_type")
    if not grant_type:
        raise MeditError(400, "invalid_request", "Missing grant type")
    grant = _GRANTS.get(grant_type)
    if grant is None:  # FAQ: client_credentials is not offered
        raise MeditError(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    return JSONResponse(grant(state, client, params), headers=_NO_STORE)


async def check_token(request: Request) -> Response:
    state: MeditSimState = request.app.state.sim
    client = _client(state, request)
    value = (await _params(request)).get("token", "")
    access = state.access_tokens.get(value)
    if access is None or access.revoked:
        raise MeditError(400, "invalid_token", "Token was not recognised")
    if access.expires_at <= state.now():
        raise MeditError(400, "invalid_token", "Token has expired")
    user = state.users[access.email]
    group = state.groups[user.group_uuid]
    refresh = state.refresh_tokens.get(access.refresh_token or "")
    body: dict[str, object] = {
        "aud": ["MEDITLINK_OPENAPI_CLIENT"],
        "user_name": user.email,
        "scope": list(access.scopes),
        "active": True,
        "exp": int(access.expires_at),
        "authorities": [f"{group.type}:ADMIN"],
        "client_id": client.client_id,
    }
    if refresh is not None:
        body["refresh_token_exp"] = int(refresh.expires_at)
    return JSONResponse(body)


routes = [
    Route("/oauth/authorize", authorize, methods=["GET"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/check_token", check_token, methods=["POST"]),
]
