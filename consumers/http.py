"""Translate HTTP answers and httpx failures into `consumers.errors`, in this one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from consumers.errors import (
    BadRequest,
    LinkExpired,
    NotFound,
    NotReady,
    ServerError,
    Throttled,
    Unauthorized,
)


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
