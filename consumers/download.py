"""Stream one artifact from a vendor URL into the store: allowed hosts only, redirects checked,
credentials only to the exact origin they belong to (`origin.OriginScope`, on every hop), bounded
memory and size, a minimum speed (`limits.speed_floor`) (DESIGN.md §5.4, §5.6)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from consumers.artifacts.base import ArtifactStore
from consumers.errors import ArtifactRejected
from consumers.http import raise_for_status, translate_transport_errors
from consumers.limits import declared_size, speed_floor
from consumers.metrics import DOWNLOAD_BYTES, DOWNLOAD_SECONDS
from consumers.origin import OriginScope
from consumers.storage import StoredFile
from schemas.settings import VendorLimits

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class DownloadRequest:
    url: str
    headers: dict[str, str] = field(default_factory=dict)  # not secret: credentials come from the scope
    not_found_is_not_ready: bool = False


def host_of(url: str) -> str:
    return httpx.URL(url).host


def check_allowed(url: str, allowed_hosts: frozenset[str], scope: OriginScope | None = None) -> httpx.URL:
    """The parsed URL if its host is allowed (and, with a `scope`, it is no plain-http downgrade)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ArtifactRejected("download link is not a valid URL") from exc
    if parsed.scheme not in ("https", "http") or parsed.host not in allowed_hosts:
        raise ArtifactRejected(f"download host not allowed: {parsed.host or '?'}")
    if scope is not None:
        scope.check(parsed)
    return parsed


async def download(
    client: httpx.AsyncClient,
    request: DownloadRequest,
    store: ArtifactStore,
    relative_path: str,
    *,
    scope: OriginScope,
    allowed_hosts: frozenset[str],
    max_bytes: int,
    chunk_bytes: int,
    limits: VendorLimits,
) -> StoredFile | None:
    """Store the body at `relative_path`; None when the vendor answered 204 (nothing to fetch)."""
    vendor = relative_path.split("/", 1)[0]  # the store layout starts with the vendor
    started = time.perf_counter()
    stored = await _download(client, request, store, relative_path, scope=scope, allowed_hosts=allowed_hosts,
                             max_bytes=max_bytes, chunk_bytes=chunk_bytes, limits=limits)
    if stored is not None:
        DOWNLOAD_SECONDS.labels(vendor).observe(time.perf_counter() - started)
        DOWNLOAD_BYTES.labels(vendor).observe(stored.size)
    return stored


async def _download(
    client: httpx.AsyncClient,
    request: DownloadRequest,
    store: ArtifactStore,
    relative_path: str,
    *,
    scope: OriginScope,
    allowed_hosts: frozenset[str],
    max_bytes: int,
    chunk_bytes: int,
    limits: VendorLimits,
) -> StoredFile | None:
    url = check_allowed(request.url, allowed_hosts, scope)
    async with speed_floor(limits, "download") as pace:
        for _ in range(MAX_REDIRECTS + 1):
            with translate_transport_errors():
                async with client.stream("GET", url, headers=request.headers, auth=scope) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        url = check_allowed(urljoin(str(url), location), allowed_hosts, scope)
                        continue
                    if response.status_code == 204:
                        return None
                    raise_for_status(response, not_found_is_not_ready=request.not_found_is_not_ready)
                    declared = declared_size(response)
                    if declared is not None and declared > max_bytes:
                        raise ArtifactRejected(f"artifact of {declared} bytes exceeds the limit {max_bytes}")
                    chunks = pace(response.aiter_bytes(chunk_bytes))
                    return await store.write(relative_path, chunks, max_bytes)
    raise ArtifactRejected("too many redirects")
