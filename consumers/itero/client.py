"""iTero / Align API client (itero-dpms-api.txt: Get Order by RX ID, Get Orders for Practice,
Download Scan, Get List of Screen Captures, Download Single Screen Capture; Align guideline §3.2
configurable URLs, §3.7.1 orders/lab).

The pairing Bearer token goes only to the exact origins of the configured API URLs (base URL,
Discovery domain, orders/lab URL): the connection's `tokens.TokenKeeper` is the request's `httpx.Auth`,
and a 401 refreshes the token once inside it and repeats the call. A link on another origin — one of
the extra `download_hosts`, another port of an API host, plain http — is fetched without it. Every id
enters a URL as one escaped segment (`urlpath`), every answer is read within the call deadline and the
byte cap (`http.get_answer`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import httpx

from consumers.artifacts.base import ArtifactStore
from consumers.download import DownloadRequest, check_allowed, download, host_of
from consumers.errors import ArtifactRejected, LinkExpired, PermanentError, Unauthorized
from consumers.http import get_answer, json_of, raise_for_status, send_answer
from consumers.itero.pairing import api_urls
from consumers.records import unwrap_data
from consumers.storage import StoredFile
from consumers.tokens import TokenKeeper
from consumers.urlpath import segment
from schemas.settings import IteroConnection, VendorLimits


class IteroClient:
    def __init__(self, connection: IteroConnection, http: httpx.AsyncClient, tokens: TokenKeeper,
                 limits: VendorLimits | None = None) -> None:
        self.connection = connection
        self._http = http
        self.scope = tokens  # the bearer token, for the API origins only, refreshed once on a 401
        self.limits = limits or VendorLimits()
        self.root = connection.api_root()
        self.api_hosts = frozenset(host_of(url) for url in api_urls(connection))
        self.allowed_hosts = self.api_hosts | set(connection.download_hosts)

    async def _get_json(self, path: str, params: dict[str, Any] | None = None,
                        *, not_found_is_not_ready: bool = False) -> Any:
        url = path if "://" in path else f"{self.root}/{path}"
        what = f"GET {path.rstrip('/').rpartition('/')[2] if '://' in path else path.split('/')[0]}"

        response = await get_answer(self._http, url, params=params, auth=self.scope, limits=self.limits,
                                    what=what)
        raise_for_status(response, not_found_is_not_ready=not_found_is_not_ready)
        return json_of(response, what)

    async def send(self, method: str, path: str, *, body: dict[str, Any] | None = None) -> httpx.Response:
        """A write call (consumers/itero/commands.py: Scan Request, Delete RX): the answer whatever its
        status, read within the call deadline and byte cap; `path` is built from escaped segments."""
        return await send_answer(self._http, method, f"{self.root}/{path}", auth=self.scope,
                                 limits=self.limits, what=f"{method} {path.split('/')[0]}", json=body)

    async def get_order(self, rx_id: str) -> dict[str, Any]:
        """One order by Rx GUID. A 404 right after a notification means "not ready yet" (Align §3.7.2)."""
        path = f"orders/{segment(rx_id, 'Rx id')}"
        data = unwrap_data(await self._get_json(path, not_found_is_not_ready=True))
        if isinstance(data, list) and len(data) == 1:
            data = data[0]  # tolerate a one-element list
        if not isinstance(data, dict):
            raise ArtifactRejected("order answer has no order object")
        return data

    async def list_orders(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A page of `orders/practice` (iTero) or `orders/lab` (Align); `path` may be a full URL."""
        data = unwrap_data(await self._get_json(path, params=params))
        return data if isinstance(data, dict) else {"Results": data or []}

    async def latest_files(self, date_from: str | None) -> dict[str, Any]:
        params = {"dateFrom": date_from} if date_from else None
        data = unwrap_data(await self._get_json("latest-files", params=params))
        return data if isinstance(data, dict) else {}

    def asset_url(self, order_id: str, asset: str, returned: str | None) -> str:
        """Prefer the link the order returned ("Use the returned links"), on an allowed host only."""
        if returned:
            try:
                url = urljoin(f"{self.root}/", returned)
                check_allowed(url, self.allowed_hosts, self.scope)
                return url
            except (ValueError, PermanentError):
                pass  # fall back to the documented path on the configured host
        return f"{self.root}/order/{segment(order_id, 'OrderId')}/download/{segment(asset)}"

    def capture_url(self, order_id: str, capture_id: str) -> str:
        """Download Single Screen Capture (the Discovery form; the doc's legacy path reads "thirdparty")."""
        return (f"{self.root}/order/{segment(order_id, 'OrderId')}/download/SCREEN_CAPTURE/"
                f"{segment(capture_id, 'screenCaptureID')}")

    async def download(self, url: str, store: ArtifactStore, relative: str, *,
                       max_bytes: int, chunk_bytes: int) -> StoredFile | None:
        """Download an asset; 404 is "not generated yet" (Download Scan), 204 "no screen captures".
        The bearer token goes to the API origins only; a 401 from another origin is a refused signed
        link, not a refused pairing."""
        try:
            return await download(
                self._http, DownloadRequest(url, not_found_is_not_ready=True), store, relative,
                scope=self.scope, allowed_hosts=self.allowed_hosts, max_bytes=max_bytes,
                chunk_bytes=chunk_bytes, limits=self.limits,
            )
        except Unauthorized as exc:
            if self.scope.carries_secret(url):
                raise
            raise LinkExpired(str(exc)) from exc
