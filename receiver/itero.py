"""iTero / Align scan notification route (itero-dpms-api.txt "Callback Request"; Align guideline §3.5).

POST /hooks/{itero|align}/{token}  body {"Id": <Rx GUID>, "CompanyId": <number>} → inbound record +
`scan.notified`, answered 202 only after the bus acknowledged both. The connection is found among the
catalog's (the state store's, cached: a store that is down does not stop webhooks of known connections).

The busiest route of the receiver, so a plain ASGI app (receiver/hookasgi.py, issue 16): the same steps
as a Starlette endpoint — token in constant time, JSON media type, bounded body, signature, validation —
without the request and response objects. The usual body — `Id` a dashed GUID, `CompanyId` an
unsigned integer, nothing else — is read without the model (4.3 → 0.9 µs, issue 16); any other body is the
model's to accept or refuse (tests/receiver/test_fast_paths.py holds the two to the same answers).
A notification for an Rx that a `scan_request` command pushed carries its `command_id`
(receiver/links.py: read from memory, reloaded every `state.reload_s`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bus.base import Bus
from receiver.auth import authenticated_asgi
from receiver.body import parse_object
from receiver.errors import EXCEPTION_HANDLERS, ApiError
from receiver.hookasgi import ErrorHandler, HookEndpoint, header, send_json
from receiver.links import LinkCache
from receiver.publish import notified_data, now, publish_webhook
from schemas.commands.itero import RX_LINK
from schemas.ids import canonical_guid
from schemas.inbound import MAX_COMPANY_DIGITS, IteroNotification
from schemas.settings import IteroConnection, Settings
from state.shared import SharedLink

VENDORS = ("itero", "align")  # one route each: /hooks/itero/{token}, /hooks/align/{token}


def validated(raw: bytes) -> tuple[str, str | None]:
    """The body's Rx id (in `ids.rx_key`'s spelling) and CompanyId, as `IteroNotification` reads them."""
    body = parse_object(raw)
    usual = _usual(body)
    if usual is not None:
        return usual
    try:
        notification = IteroNotification.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "invalid_body", problems) from None
    return notification.id, notification.companyid


_COMPANY_LIMIT = 10**MAX_COMPANY_DIGITS


def _usual(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """`{"Id": <GUID>}` with an unsigned integer `CompanyId` or none, read as the model reads it; None for any
    other body."""
    rx = body.get("Id")
    company = body.get("CompanyId")
    if type(rx) is not str or len(body) != (2 if "CompanyId" in body else 1):
        return None
    guid = canonical_guid(rx)
    if guid is None:
        return None
    if company is None:
        return guid, None
    if type(company) is int and 0 <= company < _COMPANY_LIMIT:
        return guid, str(company)
    return None


class Notification(HookEndpoint):
    def __init__(self, vendor: str, settings: Settings, bus: Bus, shared: SharedLink,
                 handlers: Mapping[Any, ErrorHandler]) -> None:
        super().__init__(handlers)
        self._vendor = vendor
        self._route = f"/hooks/{vendor}"
        self._settings = settings
        self._bus = bus
        self._links: LinkCache | None = None  # made at the first webhook, from the settings
        self._shared = shared

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        now_shared = self._shared()
        known = now_shared.catalog.of(IteroConnection, self._vendor)
        limit = self._settings.receiver.max_body_bytes
        connection, raw = await authenticated_asgi(scope, receive, known, limit)
        rx, company = validated(raw)
        if connection.company_id and company and company != connection.company_id:
            raise ApiError(422, "unknown_account", "CompanyId does not belong to this connection")
        account = company or connection.company_id or connection.id
        if self._links is None:
            self._links = LinkCache(self._settings.state.reload_s)
        command = await self._links.match(now_shared.store, self._vendor, connection.id, RX_LINK, rx)
        received = now()
        notified = notified_data(vendor=self._vendor, account=account, connection=connection.id, rx_id=rx,
                                 received_at=received, command_id=command.command_id if command else None)
        event = await publish_webhook(
            self._bus,
            self._settings.bus.topics,
            raw=raw,
            content_type=header(scope, b"content-type") or "application/json",
            route=self._route,
            notified=notified,
            received_at=received,
            subject=rx,
        )
        await send_json(send, 202, b'{"accepted":true,"event_id":"' + event.id.encode() + b'"}')


def routes(settings: Settings, bus: Bus, shared: SharedLink) -> list[Route]:
    return [Route(f"/hooks/{vendor}/{{token:str}}", methods=["POST"],
                  endpoint=Notification(vendor, settings, bus, shared, EXCEPTION_HANDLERS))
            for vendor in VENDORS]
