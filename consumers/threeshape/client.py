"""Async client of the Dental Desktop REST API, on an `httpx.AsyncClient` passed in.

3shape-dental-desktop-pms-integration.txt, "Integration implementation" (URL
`https://<pc-address>:5484/DentalDesktop/WebService/<method>`, invariant date format), "Security"
(Basic; build the transport with `tls.pinned_transport`), "/GetAvailableClientList",
"/GetCasesForPatient", "/GetAttachedImage", the write methods with "/GetRequestStatusById" and
"/RemoveRequestById" (consumers/threeshape/requests.py). Errors: `consumers.errors` (401 → Unauthorized,
400 → BadRequest, 404 → NotFound, 5xx/timeouts → ServerError), `tls.UntrustedServer`, the
`xml.InvalidResponse` branch, `NotAnImage`, and `TooSlow` (an XML call over the call deadline, an
image under the download speed floor: `consumers.limits`). The Basic credentials go only to the
configured server's exact origin, never over plain http (`origin.OriginScope`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import NoReturn

import httpx

from consumers.errors import ArtifactRejected, BadRequest, NotFound, Unauthorized
from consumers.http import raise_for_status, translate_transport_errors
from consumers.limits import Pace, declared_size, speed_floor, within
from consumers.origin import OriginScope, basic_credentials
from consumers.threeshape import xml
from consumers.threeshape.tls import UntrustedServer, is_certificate_failure
from consumers.threeshape.xml import CaseInfo, CaseStatus, ClientInfo
from schemas.settings import VendorLimits

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=10.0, pool=10.0)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_IMAGE_BYTES = 64 * 1024 * 1024  # base64 inside XML: about 48 MiB of image
_STATUS_PARAMS: dict[CaseStatus, str] = {
    "Created": "IsCreated", "Scanned": "IsScanned", "Modelled": "IsModelled",
}
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


class NotAnImage(ArtifactRejected):
    """GetAttachedImage returned bytes that are not a known image format."""


@dataclass(frozen=True)
class AttachedImage:
    data: bytes
    media_type: str


def sniff_image(data: bytes) -> str | None:
    """The media type by magic bytes, or None."""
    return next((media for magic, media in _MAGIC if data.startswith(magic)), None)


def build_http_client(
    server_url: str,
    transport: httpx.AsyncBaseTransport,
    username: str,
    password: str,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> httpx.AsyncClient:
    """The AsyncClient for `DentalDesktopClient`: `server_url` is `https://<pc-address>:5484`."""
    if httpx.URL(server_url).scheme != "https":
        raise ValueError("the Dental Desktop server URL must be https:// (Basic credentials)")
    return httpx.AsyncClient(
        base_url=server_url.rstrip("/") + "/DentalDesktop/WebService/",
        transport=transport,
        auth=OriginScope([server_url], basic_credentials(username, password)),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def _date_param(value: dt.date | dt.datetime) -> str:
    """Invariant format: 2018-04-30, or 2018-04-30T10:00:00Z for an aware datetime."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("give dates as datetime.date or timezone-aware datetime")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _window(name: str, low: dt.date | None, high: dt.date | None) -> dict[str, str]:
    if low is not None and high is not None:
        as_dt = [
            v if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC)
            for v in (low, high)
        ]
        if as_dt[0] > as_dt[1]:
            raise ValueError(f"{name}From is later than {name}To (the server answers BadRequest)")
    params = {}
    if low is not None:
        params[f"{name}From"] = _date_param(low)
    if high is not None:
        params[f"{name}To"] = _date_param(high)
    return params


class DentalDesktopClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_xml_bytes: int = xml.MAX_XML_BYTES,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        limits: VendorLimits | None = None,
    ) -> None:
        self._http = http
        self._max_xml_bytes = max_xml_bytes
        self._max_image_bytes = max_image_bytes
        self._limits = limits or VendorLimits()

    async def get_available_clients(self) -> list[ClientInfo]:
        body = await self._get("GetAvailableClientList", {}, self._max_xml_bytes)
        return xml.parse_client_list(body, max_bytes=self._max_xml_bytes)

    async def get_cases_for_patient(
        self,
        integration_id: str,
        *,
        created_from: dt.date | None = None,
        created_to: dt.date | None = None,
        delivered_from: dt.date | None = None,
        delivered_to: dt.date | None = None,
        statuses: Collection[CaseStatus] = (),
    ) -> list[CaseInfo]:
        """Cases of the patient mapped to `integration_id` (mandatory); `statuses` filters by status
        (none = all). With exactly one status the returned cases carry it in `.status`."""
        if not integration_id:
            raise ValueError("IntegrationId is mandatory for GetCasesForPatient")
        params = {"IntegrationId": integration_id}
        params |= _window("CreationDate", created_from, created_to)
        params |= _window("DeliveryDate", delivered_from, delivered_to)
        if statuses:
            params |= {name: str(status in statuses) for status, name in _STATUS_PARAMS.items()}
        body = await self._get("GetCasesForPatient", params, self._max_xml_bytes)
        cases = xml.parse_cases(body, max_bytes=self._max_xml_bytes)
        if len(set(statuses)) == 1:
            (only,) = set(statuses)
            cases = [replace(case, status=only) for case in cases]
        return cases

    async def get_cases_with_status(
        self,
        integration_id: str,
        *,
        created_from: dt.date | None = None,
        created_to: dt.date | None = None,
        delivered_from: dt.date | None = None,
        delivered_to: dt.date | None = None,
    ) -> list[CaseInfo]:
        """All cases, each with its status: one query per status, since a CaseInfo documents only
        IsModelled ("/GetCasesForPatient" › Remarks: a status filter excludes the other statuses).
        A case seen under two statuses (it moved between queries) keeps the later one."""
        window = {
            "created_from": created_from, "created_to": created_to,
            "delivered_from": delivered_from, "delivered_to": delivered_to,
        }
        found = await asyncio.gather(
            *(self.get_cases_for_patient(integration_id, statuses=(s,), **window) for s in _STATUS_PARAMS)
        )
        by_id: dict[str, CaseInfo] = {}
        for cases in found:  # Created, Scanned, Modelled: later statuses overwrite earlier ones
            by_id |= {case.case_id: case for case in cases}
        return sorted(by_id.values(), key=lambda c: (c.creation_date or _EPOCH, c.case_id))

    async def get_attached_image(self, case_id: str, attached_image_id: str) -> AttachedImage:
        params = {"CaseId": case_id, "AttachedImageId": attached_image_id}
        body = await self._get("GetAttachedImage", params, self._max_image_bytes, image=True)
        data = xml.parse_image_bytes(body, max_bytes=self._max_image_bytes)
        media_type = sniff_image(data)
        if media_type is None:
            raise NotAnImage(f"attached image {attached_image_id}: the bytes are not a known image format")
        return AttachedImage(data, media_type)

    async def write(self, method: str, params: dict[str, str]) -> tuple[int, bytes]:
        """A write method (/CreatePatient, /UpdatePatient, /CreateCase, /SelectCase: "This method does not
        provide any output"): its HTTP status and up to 64 KiB of body, whatever the status; transport
        failures and timeouts raise `ServerError`, a 401 `Unauthorized`."""
        async with within(self._limits.call_deadline_s, method):
            with translate_transport_errors():
                try:
                    async with self._http.stream("GET", method, params=params) as response:
                        body = await _read_capped(response, 64 * 1024, truncate=True)
                except httpx.ConnectError as exc:
                    if is_certificate_failure(exc):
                        raise UntrustedServer(
                            f"{method}: the server's certificate is not issued by the pinned CA") from exc
                    raise
        if response.status_code == 401:
            _raise_for(response, body)
        return response.status_code, body

    async def request_status(self, request_id: str) -> xml.RequestStatus:
        """/GetRequestStatusById. The status is read from the body whatever the HTTP status (the doc gives
        none; a server may well answer 404 with the RequestStatus of code 404)."""
        status, body = await self.write("GetRequestStatusById", {"Id": request_id})
        try:
            return xml.parse_request_status(body)
        except xml.InvalidResponse:
            if status == 200:
                raise
            _refuse(status, body, "GetRequestStatusById")

    async def remove_request(self, request_id: str) -> bool:
        """/RemoveRequestById: "A Boolean value indicating if the request was removed" — as a WCF
        `<boolean>`, a `<string>` or bare text."""
        status, body = await self.write("RemoveRequestById", {"Id": request_id})
        if status != 200:
            _refuse(status, body, "RemoveRequestById")
        return xml.parse_boolean(body)

    async def _get(self, method: str, params: dict[str, str], max_bytes: int, *,
                   image: bool = False) -> bytes:
        """GET one method within the call deadline (an image: above the download speed floor)."""
        if image:
            async with speed_floor(self._limits, method) as pace:
                return await self._fetch(method, params, max_bytes, pace)
        async with within(self._limits.call_deadline_s, method):
            return await self._fetch(method, params, max_bytes, None)

    async def _fetch(self, method: str, params: dict[str, str], max_bytes: int, pace: Pace | None) -> bytes:
        """The body read up to `max_bytes`; errors are translated here."""
        with translate_transport_errors():
            try:
                async with self._http.stream("GET", method, params=params) as response:
                    if response.status_code == 200:
                        return await _read_capped(response, max_bytes, pace=pace)
                    _raise_for(response, await _read_capped(response, 64 * 1024, truncate=True))
            except httpx.ConnectError as exc:
                if is_certificate_failure(exc):
                    raise UntrustedServer(
                        f"{method}: the server's certificate is not issued by the pinned CA"
                    ) from exc
                raise


async def _read_capped(response: httpx.Response, max_bytes: int, *, truncate: bool = False,
                       pace: Pace | None = None) -> bytes:
    declared = declared_size(response)
    if not truncate and declared is not None and declared > max_bytes:
        raise xml.ResponseTooLarge(f"answer of {declared} bytes exceeds {max_bytes}")
    body = bytearray()
    chunks = response.aiter_bytes()
    async for chunk in pace(chunks) if pace else chunks:
        body += chunk
        if len(body) > max_bytes:
            if truncate:
                return bytes(body[:max_bytes])
            raise xml.ResponseTooLarge(f"answer exceeds {max_bytes} bytes")
    return bytes(body)


def _refuse(status: int, body: bytes, method: str) -> NoReturn:
    _raise_for(httpx.Response(status, content=body, request=httpx.Request("GET", method)), body)


def _raise_for(response: httpx.Response, body: bytes) -> NoReturn:
    method = response.request.url.path.rpartition("/")[2]
    if response.status_code == 401:
        raise Unauthorized(
            f"{method}: Dental Desktop refused the Basic credentials (401): check the 3DD user name "
            "and password"
        )
    if response.status_code in (400, 404):
        try:
            status = xml.parse_request_status(body)
        except xml.InvalidResponse:
            status = None
        if status is not None:
            kind = BadRequest if response.status_code == 400 else NotFound
            raise kind(
                f"{method}: HTTP {response.status_code}, request status {status.code}: {status.description}"
            )
    raise_for_status(response)
    raise BadRequest(f"{method}: unexpected HTTP {response.status_code}")
