"""Medit Link resource API client (meditlink-openapi.txt §3.1.1 me, §3.3 Case, §3.4.1 Get File,
§3.5 Order; §2.3 errors). Every call sends `Authorization: Bearer`, `x-meditlink-client-id` and,
except `/v1/me`, `x-meditlink-group-uuid`. The bearer token comes from the connection's
`tokens.TokenKeeper`, the request's `httpx.Auth`: refreshed before it expires, and once on a 401 inside
the auth flow; it goes only to the exact origin of `api_url` (`origin.OriginScope`); the client id
and group uuid are not secret. Pre-signed file URLs are fetched without any of these headers, and
never over plain http unless `api_url` is http. Ids enter URLs as escaped segments (`urlpath`);
answers are read within the call deadline and byte cap (`http.get_answer`).
"""

from __future__ import annotations

from typing import Any

import httpx

from consumers.artifacts.base import ArtifactStore
from consumers.download import DownloadRequest, download, host_of
from consumers.errors import ArtifactRejected, LinkExpired, PermanentError
from consumers.http import get_answer, json_of, raise_for_status, send_answer
from consumers.storage import StoredFile
from consumers.tokens import TokenKeeper
from consumers.urlpath import segment
from schemas.settings import MeditConnection, VendorLimits

MAX_PAGE_SIZE = 40  # §3.5.1 "Must be at most 40"
MAX_PAGE = 1000  # §3.5.1 "Must be at most 1000"


class MeditClient:
    def __init__(self, connection: MeditConnection, http: httpx.AsyncClient, tokens: TokenKeeper,
                 limits: VendorLimits | None = None) -> None:
        self.connection = connection
        self._http = http
        self.tokens = tokens
        self.limits = limits or VendorLimits()
        self.root = f"{connection.api_url.rstrip('/')}/v1"
        self.scope = tokens
        self.allowed_hosts = frozenset({host_of(connection.api_url), *connection.download_hosts})
        # Where artifacts come from, for `artifact.stored` (host only, never the signed URL).
        hosts = connection.download_hosts
        self.download_host = hosts[0] if hosts else host_of(connection.api_url)

    async def _headers(self, *, group: bool) -> dict[str, str]:
        headers = {"x-meditlink-client-id": self.connection.client_id}
        if group:
            headers["x-meditlink-group-uuid"] = await self.group_uuid()
        return headers

    async def _get(self, path: str, params: dict[str, Any] | None = None, *, group: bool = True) -> Any:
        """GET a resource; None for 204 ("The requested list could not be found", §2.3.1)."""
        what = f"GET {path.split('/')[0]}"
        headers = await self._headers(group=group)
        response = await get_answer(self._http, f"{self.root}/{path}", params=params, headers=headers,
                                    auth=self.tokens, limits=self.limits, what=what)
        if response.status_code == 204:
            return None
        try:
            raise_for_status(response)
        except LinkExpired:  # an API 403 is "access denied", not an expired link
            raise PermanentError(f"{what}: 403 access denied") from None
        return json_of(response, what)

    async def send(self, method: str, path: str, *, body: dict[str, Any] | None = None) -> httpx.Response:
        """A write call (consumers/meditlink/commands.py): the answer whatever its status, read within the
        call deadline and byte cap; `path` is built from escaped segments by the caller."""
        headers = await self._headers(group=True)
        return await send_answer(self._http, method, f"{self.root}/{path}", params={"schema": "latest"},
                                 headers=headers, auth=self.tokens, limits=self.limits,
                                 what=f"{method} {path.split('/')[0]}", json=body)

    async def group_uuid(self) -> str:
        """FAQ: "the Group UUID can be stored after the initial request" — read `/v1/me` once, kept with
        the grant in the state store."""
        known = (await self.tokens.credentials()).extra.get("group_uuid")
        if isinstance(known, str) and known:
            return known
        me = await self._get("me", {"schema": "latest"}, group=False)
        group = (me or {}).get("group") or {}
        uuid = group.get("uuid") if isinstance(group, dict) else None
        if not isinstance(uuid, str) or not uuid:
            raise PermanentError("/v1/me answered without a group uuid")
        await self.tokens.update_extra(group_uuid=uuid)
        return uuid

    async def search(self, kind: str, start_ms: int, end_ms: int, page: int) -> dict[str, Any] | None:
        """One page of `orders/search` (dateUpdated window) or `cases/search` (dateCreated window)."""
        params = {"schema": "latest", "size": MAX_PAGE_SIZE, "page": page, "start": start_ms, "end": end_ms}
        body = await self._get(f"{kind}/search", params)
        return body if isinstance(body, dict) else None

    async def get_order(self, order_number: str) -> dict[str, Any]:
        return await self._object(f"orders/{segment(order_number, 'order number')}")

    async def get_case(self, case_uuid: str) -> dict[str, Any]:
        return await self._object(f"cases/{segment(case_uuid, 'case uuid')}")

    async def get_file(self, file_uuid: str, conversion: str | None) -> dict[str, Any]:
        """§3.4.1: a pre-signed URL (5 minutes) to a 7z, with its `items` (name, size, MD5)."""
        params = {"type": conversion} if conversion else None
        return await self._object(f"files/{segment(file_uuid, 'file uuid')}", params)

    async def _object(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self._get(path, params or {"schema": "latest"})
        if not isinstance(body, dict):
            raise ArtifactRejected(f"GET {path.split('/')[0]}: answer is not a JSON object")
        return body

    async def download(self, url: str, store: ArtifactStore, relative: str, *,
                       max_bytes: int, chunk_bytes: int) -> StoredFile | None:
        """A pre-signed URL on an allowed host, no credentials sent; 403 → `LinkExpired`."""
        return await download(self._http, DownloadRequest(url), store, relative, scope=self.scope,
                              allowed_hosts=self.allowed_hosts, max_bytes=max_bytes, chunk_bytes=chunk_bytes,
                              limits=self.limits)
