"""iTero / Align API client (itero-dpms-api.txt: Get Order by RX ID, Get Orders for Practice,
Download Scan, Get List of Screen Captures, Download Single Screen Capture; Align guideline §3.2
configurable URLs, §3.7.1 orders/lab).

Every call to the API hosts carries the pairing Bearer token; a 401 refreshes it once and repeats the
call. A link on one of the extra `download_hosts` is fetched without it (README: the bearer token is
never sent to another host).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from consumers.download import DownloadRequest, check_allowed, download, host_of
from consumers.errors import ArtifactRejected, LinkExpired, Unauthorized
from consumers.http import raise_for_status, translate_transport_errors
from consumers.records import unwrap_data
from consumers.storage import FolderStore, StoredFile
from consumers.tokens import TokenStore
from schemas.settings import IteroConnection

T = TypeVar("T")


class IteroClient:
    def __init__(self, connection: IteroConnection, http: httpx.AsyncClient, tokens: TokenStore) -> None:
        self.connection = connection
        self._http = http
        self._tokens = tokens
        self.root = connection.api_root()
        self.api_hosts = frozenset(host_of(url) for url in (connection.base_url, connection.discovery_domain)
                                   if url)
        self.allowed_hosts = self.api_hosts | set(connection.download_hosts)

    async def _authorized(self, call: Callable[[dict[str, str]], Awaitable[T]]) -> T:
        token = self._tokens.access_token
        try:
            return await call({"Authorization": f"Bearer {token}"})
        except Unauthorized:
            token = await self._tokens.refresh(token)
            return await call({"Authorization": f"Bearer {token}"})

    async def _get_json(self, path: str, params: dict[str, Any] | None = None,
                        *, not_found_is_not_ready: bool = False) -> Any:
        url = path if "://" in path else f"{self.root}/{path}"

        async def call(headers: dict[str, str]) -> Any:
            with translate_transport_errors():
                response = await self._http.get(url, params=params, headers=headers)
            raise_for_status(response, not_found_is_not_ready=not_found_is_not_ready)
            try:
                return response.json()
            except ValueError as exc:
                raise ArtifactRejected(f"GET {path.split('/')[0]}: answer is not JSON") from exc

        return await self._authorized(call)

    async def get_order(self, rx_id: str) -> dict[str, Any]:
        """One order by Rx GUID. A 404 right after a notification means "not ready yet" (Align §3.7.2)."""
        data = unwrap_data(await self._get_json(f"orders/{rx_id}", not_found_is_not_ready=True))
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
            url = urljoin(f"{self.root}/", returned)
            try:
                check_allowed(url, self.allowed_hosts)
                return url
            except ArtifactRejected:
                pass  # fall back to the documented path on the configured host
        return f"{self.root}/order/{order_id}/download/{asset}"

    def capture_url(self, order_id: str, capture_id: str) -> str:
        """Download Single Screen Capture (the Discovery form; the doc's legacy path reads "thirdparty")."""
        return f"{self.root}/order/{order_id}/download/SCREEN_CAPTURE/{capture_id}"

    async def download(self, url: str, store: FolderStore, relative: str, *,
                       max_bytes: int, chunk_bytes: int) -> StoredFile | None:
        """Download an asset; 404 is "not generated yet" (Download Scan), 204 "no screen captures".
        The bearer token goes to the API hosts only."""

        async def call(headers: dict[str, str]) -> StoredFile | None:
            return await download(
                self._http, DownloadRequest(url, headers, not_found_is_not_ready=True), store, relative,
                allowed_hosts=self.allowed_hosts, max_bytes=max_bytes, chunk_bytes=chunk_bytes,
            )

        if host_of(url) in self.api_hosts:
            return await self._authorized(call)
        try:
            return await call({})
        except Unauthorized as exc:  # a refused signed link, not a refused pairing
            raise LinkExpired(str(exc)) from exc
