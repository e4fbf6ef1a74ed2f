"""iTero / Align scan notification route (itero-dpms-api.txt "Callback Request"; Align guideline §3.5).

POST /hooks/{itero|align}/{token}  body {"Id": <Rx GUID>, "CompanyId": <number>} → inbound record +
`scan.notified`, answered 202 only after the bus acknowledged both. The connection is found among the
catalog's (the state store's, cached: a store that is down does not stop webhooks of known connections).
"""

from __future__ import annotations

from functools import partial

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bus.base import Bus
from receiver.auth import authenticated_body
from receiver.body import parse_object
from receiver.errors import ApiError
from receiver.publish import now, publish_notification
from schemas.events import ScanNotified
from schemas.inbound import IteroNotification
from schemas.settings import IteroConnection, Settings
from state.shared import SharedLink

VENDORS = ("itero", "align")  # one route each: /hooks/itero/{token}, /hooks/align/{token}


def routes(settings: Settings, bus: Bus, shared: SharedLink) -> list[Route]:
    async def notify(vendor: str, request: Request) -> JSONResponse:
        known = shared().catalog.of(IteroConnection, vendor)
        connection, raw = await authenticated_body(request, known, settings.receiver.max_body_bytes)
        try:
            body = IteroNotification.model_validate(parse_object(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise ApiError(422, "invalid_body", problems) from None
        if connection.company_id and body.companyid and body.companyid != connection.company_id:
            raise ApiError(422, "unknown_account", "CompanyId does not belong to this connection")
        account = body.companyid or connection.company_id or connection.id
        notified = ScanNotified(
            vendor=vendor,
            account=account,
            connection=connection.id,
            rx_id=body.id,
            learned_by="webhook",
            received_at=now(),
        )
        event = await publish_notification(
            bus,
            settings.bus.topics,
            raw=raw,
            content_type=request.headers.get("content-type", "application/json"),
            route=f"/hooks/{vendor}",
            notified=notified,
            subject=body.id,
        )
        return JSONResponse({"accepted": True, "event_id": event.id}, status_code=202)

    return [Route(f"/hooks/{vendor}/{{token:str}}", partial(notify, vendor), methods=["POST"])
            for vendor in VENDORS]
