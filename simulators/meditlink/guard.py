"""Checks every resource call makes: `Authorization: Bearer`, `x-meditlink-client-id`, scope, and
`x-meditlink-group-uuid` where required (meditlink-openapi.txt §1.1.2 Scopes, §3 "Request Headers").
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from simulators.meditlink.errors import MeditError
from simulators.meditlink.records import AccessToken, Group, User
from simulators.meditlink.state import MeditSimState


@dataclass(frozen=True)
class Caller:
    state: MeditSimState
    token: AccessToken
    user: User
    group: Group  # the caller's own group; resources are seen from it


def _invalid_token(message: str) -> MeditError:
    header = f'Bearer error="invalid_token", error_description="{message}"'
    return MeditError(401, "invalid_token", message, {"WWW-Authenticate": header})


def caller(request: Request, scope: str, *, group_header: bool = True) -> Caller:
    """Authenticate a resource request; `group_header` for endpoints whose doc lists
    x-meditlink-group-uuid (all but §3.1 User and §3.2 Group)."""
    state: MeditSimState = request.app.state.sim
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise MeditError(
            401,
            "unauthorized",
            "Full authentication is required to access this resource",
            {"WWW-Authenticate": "Bearer"},
        )
    token = state.access_tokens.get(value.strip())
    if token is None or token.revoked:
        raise _invalid_token(f"Invalid access token: {value}")
    if token.expires_at <= state.now():
        raise _invalid_token(f"Access token expired: {value}")
    client_id = request.headers.get("x-meditlink-client-id")
    if not client_id:
        raise MeditError(400, "bad_request", "Required request header 'x-meditlink-client-id' is not present")
    if client_id != token.client_id:
        raise MeditError(403, "access_denied", "x-meditlink-client-id does not match the token's client")
    if scope not in token.scopes:
        raise MeditError(403, "insufficient_scope", f"Insufficient scope for this resource: {scope}")
    user = state.users[token.email]
    group = state.groups[user.group_uuid]
    if group_header:
        group_uuid = request.headers.get("x-meditlink-group-uuid")
        if not group_uuid:
            raise MeditError(
                400, "bad_request", "Required request header 'x-meditlink-group-uuid' is not present"
            )
        if group_uuid != group.uuid:  # FAQ: one group per user
            raise MeditError(403, "access_denied", "Access is denied")
    return Caller(state, token, user, group)
