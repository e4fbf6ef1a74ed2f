"""Source authentication: a secret path token (≥128 bits) and an optional HMAC-SHA256 signature.

Tokens are compared in constant time against every connection of the route's vendor, so timing
says nothing about which prefix matched. The signature is computed over the raw body bytes; the
header may carry several `sha256=<hex>` values (space-separated) to allow secret rotation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol, TypeVar

from pydantic import SecretStr
from starlette.requests import Request
from starlette.types import Receive, Scope

from receiver.body import read_bounded, receive_bounded, require_json, require_json_type
from receiver.errors import ApiError
from receiver.hookasgi import header
from schemas.settings import WebhookAuth


class HasWebhook(Protocol):
    @property
    def webhook(self) -> WebhookAuth: ...


C = TypeVar("C", bound=HasWebhook)


def find_connection(connections: Sequence[C], token: str) -> C:
    found: C | None = None
    presented = token.encode()
    for connection in connections:
        expected = connection.webhook.token.get_secret_value().encode()
        if hmac.compare_digest(presented, expected):
            found = connection
    if found is None:
        raise ApiError(404, "not_found", "not found")
    return found


def verify_signature(auth: WebhookAuth, header_value: str | None, raw: bytes) -> None:
    if auth.hmac_secret is None:
        return
    if not header_value:
        raise ApiError(401, "unauthorized", "signature required")
    expected = _sign(auth.hmac_secret, raw).encode()
    if not any(hmac.compare_digest(offered.encode(), expected) for offered in header_value.split()):
        raise ApiError(401, "unauthorized", "bad signature")


def _sign(secret: SecretStr, raw: bytes) -> str:
    digest = hmac.new(secret.get_secret_value().encode(), raw, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign(secret: str, raw: bytes) -> str:
    """The header value a sender puts in the signature header (used by simulators and tests)."""
    return _sign(SecretStr(secret), raw)


async def authenticated_body(request: Request, connections: Sequence[C], limit: int) -> tuple[C, bytes]:
    """The steps every webhook route shares: the path token names the connection, the body is JSON
    within `limit` bytes, and its signature (when the connection requires one) matches."""
    connection = find_connection(connections, request.path_params["token"])
    require_json(request)
    raw = await read_bounded(request, limit)
    verify_signature(connection.webhook, request.headers.get(connection.webhook.hmac_header), raw)
    return connection, raw


async def authenticated_asgi(scope: Scope, receive: Receive, connections: Sequence[C],
                             limit: int) -> tuple[C, bytes]:
    """`authenticated_body` for a plain ASGI hook route (receiver/hookasgi.py): the same steps in the
    same order, read from the scope's headers and the `receive` messages."""
    connection = find_connection(connections, scope["path_params"]["token"])
    require_json_type(header(scope, b"content-type") or "")
    raw = await receive_bounded(receive, header(scope, b"content-length"), limit)
    signature = header(scope, connection.webhook.hmac_header.lower().encode("latin-1"))
    verify_signature(connection.webhook, signature, raw)
    return connection, raw
