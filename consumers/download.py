"""Stream one artifact from a vendor URL into the store: allowed hosts only, redirects checked,
credentials only to the host they belong to, bounded memory (DESIGN.md §5.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from consumers.errors import ArtifactRejected
from consumers.http import raise_for_status, translate_transport_errors
from consumers.storage import FolderStore, StoredFile

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class DownloadRequest:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    not_found_is_not_ready: bool = False


def host_of(url: str) -> str:
    return httpx.URL(url).host


def check_allowed(url: str, allowed_hosts: frozenset[str]) -> httpx.URL:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("https", "http") or parsed.host not in allowed_hosts:
        raise ArtifactRejected(f"download host not allowed: {parsed.host or '?'}")
    return parsed


async def download(
    client: httpx.AsyncClient,
    request: DownloadRequest,
    store: FolderStore,
    relative_path: str,
    *,
    allowed_hosts: frozenset[str],
    max_bytes: int,
    chunk_bytes: int,
) -> StoredFile | None:
    """Store the body at `relative_path`; None when the vendor answered 204 (nothing to fetch)."""
    url = check_allowed(request.url, allowed_hosts)
    origin = url.host
    headers = dict(request.headers)
    for _ in range(MAX_REDIRECTS + 1):
        with translate_transport_errors():
            async with client.stream("GET", url, headers=headers) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = check_allowed(urljoin(str(url), location), allowed_hosts)
                    if url.host != origin:
                        headers.pop("Authorization", None)  # a signed URL needs no bearer token
                    continue
                if response.status_code == 204:
                    return None
                raise_for_status(response, not_found_is_not_ready=request.not_found_is_not_ready)
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise ArtifactRejected(f"artifact of {declared} bytes exceeds the limit {max_bytes}")
                return await store.write(relative_path, response.aiter_bytes(chunk_bytes), max_bytes)
    raise ArtifactRejected("too many redirects")
