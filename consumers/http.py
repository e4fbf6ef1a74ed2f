"""Translate HTTP answers and httpx failures into `consumers.errors`, in this one place; `get_answer`
is the bounded GET every vendor API call goes through (deadline, byte cap: `consumers.limits`)."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from consumers.errors import (
    ArtifactRejected,
    BadRequest,
    LinkExpired,
    NotFound,
    NotReady,
    ServerError,
    Throttled,
    Unauthorized,
)
from consumers.limits import read_capped, within
from schemas.settings import VendorLimits

ERROR_BODY_BYTES = 64 * 1024  # enough of an error answer for a message; the rest is never read
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def raise_for_status(response: httpx.Response, *, not_found_is_not_ready: bool = False) -> None:
    """Raise the matching VendorError for a non-2xx answer; the URL is named without its query."""
    status = response.status_code
    if status < 300:
        return
    where = f"{response.request.method} {response.request.url.copy_with(query=None)}"
    if status == 401:
        raise Unauthorized(f"{where}: 401")
    if status in (403, 410):
        raise LinkExpired(f"{where}: {status}")
    if status == 404:
        if not_found_is_not_ready:
            raise NotReady(f"{where}: 404 not ready", retry_after(response))
        raise NotFound(f"{where}: 404")
    if status == 429:
        raise Throttled(f"{where}: 429", retry_after(response))
    if status >= 500 or status == 408:
        raise ServerError(f"{where}: {status}", retry_after(response))
    raise BadRequest(f"{where}: {status}")


@contextmanager
def translate_transport_errors() -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ServerError(f"timeout: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise ServerError(f"transport error: {type(exc).__name__}") from exc


def new_client(timeout_s: float) -> httpx.AsyncClient:
    """The vendor HTTP client: explicit timeouts and limits, redirects followed by callers only."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=10.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        follow_redirects=False,
    )


async def get_answer(client: httpx.AsyncClient, url: str, *, limits: VendorLimits, what: str,
                     auth: httpx.Auth, params: Mapping[str, Any] | None = None,
                     headers: Mapping[str, str] | None = None) -> httpx.Response:
    """GET `url` within the call deadline, its body read up to `limits.max_answer_bytes` (an error
    answer's up to 64 KiB); the returned response is complete: pass it to `raise_for_status` and
    `json_of`. `auth` (an `origin.OriginScope`) decides what credential the request carries; `what`
    names the call in errors (never the URL: it may carry ids)."""
    return await send_answer(client, "GET", url, limits=limits, what=what, auth=auth, params=params,
                             headers=headers)


async def send_answer(client: httpx.AsyncClient, method: str, url: str, *, limits: VendorLimits, what: str,
                      auth: httpx.Auth, params: Mapping[str, Any] | None = None,
                      headers: Mapping[str, str] | None = None, json: Any = None) -> httpx.Response:
    """`get_answer` for any method (the write side's PUT, POST, DELETE), with an optional JSON body."""
    async with within(limits.call_deadline_s, what):
        with translate_transport_errors():
            async with client.stream(method, url, params=params, headers=headers, auth=auth,
                                     json=json) as response:
                if response.is_success:
                    body = await read_capped(response, limits.max_answer_bytes, what)
                else:
                    body = await read_capped(response, ERROR_BODY_BYTES, what, truncate=True)
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _FRAMING]
    return httpx.Response(response.status_code, headers=kept, content=body, request=response.request)


def json_of(response: httpx.Response, what: str) -> Any:
    """The answer's JSON; malformed, too deeply nested or with absurd numbers → `ArtifactRejected`."""
    try:
        return jsonlib.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise ArtifactRejected(f"{what}: answer is not JSON") from exc
