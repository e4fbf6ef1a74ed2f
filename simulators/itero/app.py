"""The simulated iTero / Align API: legacy `{{baseUrl}}/api/third-party/v2/...` and Discovery
`{{Domain}}/{{Path}}/...` paths, bearer tokens with a refresh exchange, orders, paged order lists,
zip downloads with 404-until-generated, 204 for no screen captures, latest-files and single screen
captures (JPG), scan requests (push and delete an Rx, 409 on duplicate chart numbers: rx.py), and failures
on demand (itero-dpms-api.txt; Align lab guideline §3.5, §3.7).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route

from simulators.itero.notify import post_notification
from simulators.itero.rx import ScanRequestError
from simulators.itero.state import IteroSimState, SimOrder
from simulators.itero.zips import make_asset_zip

ASSET_SIZES = {"IDE": 1.0, "IMAGE_GALLERY": 0.25, "SCREEN_CAPTURE": 0.1}
CAPTURE_DEFAULT_DAYS = 14  # Get List of Screen Captures: no dateFrom → the past 14 days
CAPTURE_MAX_DAYS = 90  # … and never more than the past 90 days


def capture_jpg(seed: str, size: int = 4096) -> bytes:
    """A small JPG-looking body: SOI/APP0 markers, seeded bytes, EOI."""
    body = random.Random(seed).randbytes(size)
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def _unauthorized() -> JSONResponse:
    return JSONResponse({"Message": "Authorization has been denied for this request."}, status_code=401)


def order_json(state: IteroSimState, order: SimOrder, root: str) -> dict[str, Any]:
    download = f"{root}/order/{order.order_id}/download"
    query = state.link_query()
    return {
        "ProcedureName": "Fixed Restorative", "ProcedureTypeName": None, "RxId": order.rx_id,
        "OrderId": order.order_id, "OrderCode": f"OC-{order.order_id}",
        "ScanningDate": order.scanning_date.strftime("%Y-%m-%dT%H:%M:%S"),
        "DoctorId": 501, "ScanningOperatorId": 77, "ScanningOperatorName": "Op", "ScanningTime": 312,
        "PatientFirstName": order.patient_first, "PatientLastName": order.patient_last,
        "PatientChartNumber": order.patient_chart, "CaseType": "Restorative", "CompanyId": order.company_id,
        "CompanyName": state.company_name, "LabId": 88, "LabName": "Best Lab",
        "Preps": [{"AdaId": 8, "UnitTypeId": 2, "UnitTypeName": "Crown", "BridgeId": None},
                  {"AdaId": 30, "UnitTypeId": 2, "UnitTypeName": "Crown", "BridgeId": None}],
        "Notes": order.notes, "ViewerUrl": f"{root}/viewer/{order.rx_id}",
        "ThumbnailsDownloadUrl": f"{download}/IMAGE_GALLERY{query}", "IdeFileUrl": f"{download}/IDE{query}",
        "ScreenCaptureFileUrl": f"{download}/SCREEN_CAPTURE{query}", "Status": order.status,
        "DueDate": "2026-12-20T00:00:00", "PatientId": 0, "DoctorName": "Dr. Who",
        "DoctorLicenseNumber": "LIC-9",
        "Urls": {"MyiTero3DViewerUrl": f"{root}/viewer/{order.rx_id}", "IDEFileUrl": f"{download}/IDE{query}",
                 "ScreenCaptureUrl": f"{download}/SCREEN_CAPTURE{query}",
                 "ThumbnailsUrl": f"{download}/IMAGE_GALLERY{query}"},
        "ScannerModelDescription": "iTero Element 5D", "ScannerModelId": 5,
        **order.extra,
    }


def create_app(state: IteroSimState) -> Starlette:
    def root_of(request: Request) -> str:
        return str(request.base_url).rstrip("/") + request.scope.get("root_path", "")

    async def guard(request: Request) -> Response | None:
        """Bearer check and injected failures, shared by every API call."""
        state.requests.append((request.method, request.url.path))
        state.queries.append((request.url.path, dict(request.query_params)))
        if state.unpair_on and state.unpair_on in request.url.path:
            state.paired = False  # un-paired while this request was on its way (Align §3.8.2)
        if state.slow_s:
            await asyncio.sleep(state.slow_s)
        failure = state.take_failure(request.url.path)
        if failure is not None:
            return JSONResponse({"Message": "injected failure"}, status_code=failure)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.token_valid(auth[7:]):
            return _unauthorized()
        return None

    async def get_order(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        rx_id = request.path_params["rx_id"]
        try:
            uuid.UUID(rx_id)
        except ValueError:
            return JSONResponse({"Message": "Wrong RXID format"}, status_code=400)
        order = state.orders.get(rx_id)
        if order is None:
            return JSONResponse({"Message": "Not found"}, status_code=404)
        return JSONResponse({"Data": order_json(state, order, root_of(request)), "Status": 1})

    async def list_orders(request: Request, lab: bool) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            offset = int(request.query_params.get("Offset", request.query_params.get("offset", "")))
            size = int(request.query_params.get("pageSize", request.query_params.get("PageSize", "")))
        except ValueError:
            return JSONResponse({"Message": "Offset and pageSize are mandatory"}, status_code=400)
        size = max(1, min(size, 1024))
        orders = sorted(state.orders.values(), key=lambda o: (o.scanning_date, o.order_id))
        if lab:
            orders = [o for o in orders if o.listed_for_lab]
        watch = state.lab_polls if lab else state.practice_polls
        with watch.watch(str(state.company_id), first_page=offset == 0):
            if state.list_delay_s:  # a list call that takes a while: overlapping polls show up
                await asyncio.sleep(state.list_delay_s)
        date_from = request.query_params.get("dateFrom")
        if date_from:
            orders = [o for o in orders if o.scanning_date.strftime("%Y-%m-%d") >= date_from[:10]]
        page = orders[offset: offset + size]
        return JSONResponse({"Data": {"HasMore": offset + size < len(orders), "PageSize": size,
                                      "Offset": offset,
                                      "Results": [order_json(state, o, root_of(request)) for o in page]},
                             "Status": 1})

    async def practice(request: Request) -> Response:
        return await list_orders(request, lab=False)

    async def lab(request: Request) -> Response:
        return await list_orders(request, lab=True)

    async def download(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        expires = request.query_params.get("expires")
        if expires is not None and float(expires) < state.clock():
            return Response("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                            status_code=403, media_type="application/xml")
        asset = request.path_params["asset"]
        if asset not in ASSET_SIZES:
            return JSONResponse({"Message": "Wrong asset format"}, status_code=400)
        order = state.by_order_id(request.path_params["order_id"])
        if order is None:
            return JSONResponse({"Message": "Not found"}, status_code=404)
        if asset == "SCREEN_CAPTURE" and not order.screen_captures:
            return Response(status_code=204)
        now = state.clock()
        if order.ready_at is None:
            order.ready_at = now + order.not_ready_for_s  # this call triggers generation
        if now < order.ready_at:
            return JSONResponse({"Message": "File not found"}, status_code=404)
        path = state.asset_path(order, asset)
        if not path.exists():
            size = max(1, int(order.size * ASSET_SIZES[asset]))
            seed = f"{order.rx_id}/{order.revision}/{asset}"
            await asyncio.to_thread(make_asset_zip, path, asset, size, seed)
        order.listed_for_lab = False  # a downloaded order leaves orders/lab (Align §3.5)
        return FileResponse(path, media_type="application/zip",
                            filename=f"{order.order_id}_{asset}.zip")

    async def latest_files(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        now = datetime.now(UTC)
        since = now - timedelta(days=CAPTURE_DEFAULT_DAYS)
        if date_from := request.query_params.get("dateFrom"):
            try:
                since = datetime.strptime(date_from[:10], "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                return JSONResponse({"Message": "dateFrom must be YYYY-MM-DD"}, status_code=400)
            since = max(since, now - timedelta(days=CAPTURE_MAX_DAYS))
        root = root_of(request)
        entries = []
        for order in state.orders.values():
            captures = [c for c in order.captures if c.created >= since]
            if captures:
                entries.append({"OrderId": str(order.order_id), "Urls": {"SCREEN_CAPTURE": [
                    {"FileUrl": f"{root}/order/{order.order_id}/download/SCREEN_CAPTURE/{c.capture_id}",
                     "CreatedDate": c.created.strftime("%Y-%m-%dT%H:%M:%S.000Z")} for c in captures]}})
        return JSONResponse({"Data": {"Since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "CompanyId": state.company_id, "OrderFileUrls": entries}, "Status": 1})

    async def single_capture(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        order = state.by_order_id(request.path_params["order_id"])
        capture_id = request.path_params["capture_id"]
        if order is None or not any(c.capture_id == capture_id for c in order.captures):
            return JSONResponse({"Message": "Not found"}, status_code=404)
        return Response(capture_jpg(f"{order.rx_id}/{capture_id}"), media_type="image/jpeg")

    async def scan_request(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"Message": "Wrong data format"}, status_code=400)
        try:
            rx = state.scan_requests.push(body)
        except ScanRequestError as exc:
            return JSONResponse({"Message": exc.message}, status_code=exc.status)
        return JSONResponse({"Data": rx.rx_id, "Status": 1})

    async def delete_rx(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        try:
            rx_id = state.scan_requests.delete(request.path_params["rx_id"])
        except ScanRequestError as exc:
            return JSONResponse({"Message": exc.message}, status_code=exc.status)
        return JSONResponse({"Data": rx_id, "Status": 1})

    async def token(request: Request) -> Response:
        form = await request.form()
        state.requests.append((request.method, request.url.path))
        if (failure := state.take_failure(request.url.path)) is not None:
            return JSONResponse({"error": "server_error"}, status_code=failure)
        refresh = str(form.get("refresh_token", ""))
        grant = form.get("grant_type") == "refresh_token" and state.paired
        if not grant or not state.spend_refresh_token(refresh):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access, new_refresh = state.issue_tokens()
        return JSONResponse({"access_token": access, "refresh_token": new_refresh, "token_type": "Bearer",
                             "expires_in": int(state.access_ttl_s)})

    async def sim_tokens(request: Request) -> Response:
        access, refresh = state.issue_tokens()
        return JSONResponse({"access_token": access, "refresh_token": refresh})

    async def sim_add_order(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        keys = ("size", "screen_captures", "not_ready_for_s", "status")
        order = state.add_order(**{k: body[k] for k in keys if k in body})
        if body.get("callback_url"):
            await post_notification(body["callback_url"], order.rx_id, order.company_id,
                                    hmac_secret=body.get("hmac_secret"))
        return JSONResponse({"rx_id": order.rx_id, "order_id": order.order_id})

    async def sim_remodel(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        order = state.remodel(request.path_params["rx_id"], body.get("status", "Lab Review"))
        if body.get("callback_url"):
            await post_notification(body["callback_url"], order.rx_id, order.company_id,
                                    hmac_secret=body.get("hmac_secret"))
        return JSONResponse({"rx_id": order.rx_id, "status": order.status})

    async def sim_fail(request: Request) -> Response:
        body = await request.json()
        state.fail_next(body["path_contains"], int(body["status"]), int(body.get("count", 1)))
        return JSONResponse({"ok": True})

    capture = Route("/order/{order_id}/download/SCREEN_CAPTURE/{capture_id}", single_capture)
    api = [
        Route("/orders/practice", practice),
        Route("/scan-request", scan_request, methods=["POST"]),
        Route("/scan-request/{rx_id}", delete_rx, methods=["DELETE"]),
        Route("/orders/{rx_id}", get_order),
        Route("/latest-files", latest_files),
        capture,
        Route("/order/{order_id}/download/{asset}", download),
    ]
    return Starlette(routes=[
        Mount("/api/third-party/v2", routes=api),
        Mount("/api/thirdparty/v2", routes=[capture]),  # the doc's legacy path for a single capture
        Mount(f"/{state.discovery_path.strip('/')}", routes=api),
        Route("/api/third-party/v1/orders/lab", lab),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/_sim/tokens", sim_tokens, methods=["POST"]),
        Route("/_sim/orders", sim_add_order, methods=["POST"]),
        Route("/_sim/orders/{rx_id}/remodel", sim_remodel, methods=["POST"]),
        Route("/_sim/fail", sim_fail, methods=["POST"]),
    ])
