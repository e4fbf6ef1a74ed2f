"""`/_sim/...`: a small HTTP API to drive the simulator from the CLI or a demo (not part of Medit's API;
the shapes it returns are those of meditlink-openapi.txt §3.3.2 and §3.5.2 as the owner sees them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.meditlink import render
from simulators.meditlink.errors import MeditError
from simulators.meditlink.state import MeditSimState

SETTINGS = (
    "access_ttl_s",
    "refresh_ttl_s",
    "code_ttl_s",
    "url_ttl_s",
    "upload_ttl_s",
    "rotate_refresh_tokens",
    "list_delay_s",
    "default_file_size",
    "compress_archives",
    "hostile_archive",
    "misread_group_dates",
    "auto_process_uploads",
    "authorize_as",
    "public_base_url",
)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise MeditError(400, "bad_request", "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise MeditError(400, "bad_request", "Expected a JSON object")
    return body


def _sim(request: Request) -> MeditSimState:
    return request.app.state.sim  # type: ignore[no-any-return]


def _case_json(state: MeditSimState, case_uuid: str) -> dict[str, object]:
    if case_uuid not in state.cases:
        raise MeditError(404, "not_found", f"Case not found: {case_uuid}")
    case = state.cases[case_uuid]
    return render.case_detail(state, case, case.group_uuid)


async def summary(request: Request) -> Response:
    state = _sim(request)
    return JSONResponse(
        {
            "settings": {name: getattr(state, name) for name in SETTINGS},
            "cases": [render.case_summary(state, c, c.group_uuid) for c in state.cases.values()],
            "orders": [o.number for o in state.orders.values()],
            "callbacks": [dataclasses.asdict(c) for c in state.callbacks],
            "requests": len(state.requests),
        }
    )


async def configure(request: Request) -> Response:
    state = _sim(request)
    body = await _body(request)
    unknown = set(body) - set(SETTINGS)
    if unknown:
        raise MeditError(400, "bad_request", f"Unknown settings: {sorted(unknown)}")
    for name, value in body.items():
        setattr(state, name, value)
    return JSONResponse({name: getattr(state, name) for name in SETTINGS})


async def create_case(request: Request) -> Response:
    state = _sim(request)
    body = await _body(request)
    files = body.get("files")
    case = state.create_case(
        body.get("name", "Seolah.Jeon's Case"),
        patient_name=body.get("patientName", "Seolah.Jeon"),
        patient_code=body.get("patientCode", "201222039"),
        status=body.get("status", "SCAN"),
        files=None if files is None else [(f["name"], f.get("size")) for f in files],
        teeth=tuple(body.get("teeth", (45, 46, 47))),
        hostile=bool(body.get("hostile", False)),
    )
    result = _case_json(state, case.uuid)
    if body.get("order", True):
        order = state.create_order(case.uuid, share_patient_name=body.get("sharePatientName", True))
        result["orderNumber"] = order.number
    return JSONResponse(result, status_code=201)


async def case_action(request: Request) -> Response:
    state = _sim(request)
    case_uuid, action = request.path_params["case_uuid"], request.path_params["action"]
    _case_json(state, case_uuid)
    body = await _body(request)
    if action == "status":
        state.set_case_status(case_uuid, body["status"])
    elif action == "files":
        state.add_file(case_uuid, body["name"], body.get("size"), body.get("fileType", "SCAN_DATA"))
    elif action == "touch":
        state.touch_case(case_uuid)
    else:
        raise MeditError(404, "not_found", f"No such action: {action}")
    return JSONResponse(_case_json(state, case_uuid))


async def create_order(request: Request) -> Response:
    state = _sim(request)
    body = await _body(request)
    _case_json(state, body.get("caseUuid", ""))
    order = state.create_order(
        body["caseUuid"],
        status=body.get("status", "PENDING"),
        share_patient_name=body.get("sharePatientName", True),
    )
    return JSONResponse(render.order_detail(state, order, order.seller_uuid), status_code=201)


async def order_status(request: Request) -> Response:
    state = _sim(request)
    number = int(request.path_params["number"])
    if number not in state.orders:
        raise MeditError(404, "not_found", f"Order not found: {number}")
    order = state.set_order_status(number, (await _body(request))["status"])
    return JSONResponse(render.order_detail(state, order, order.seller_uuid))


async def fault(request: Request) -> Response:
    state = _sim(request)
    body = await _body(request)
    path, count, method = body.get("path", "/"), int(body.get("count", 1)), body.get("method")
    if body.get("delay"):
        state.slow_next(path, float(body["delay"]), count, method)
    if body.get("status"):
        state.fail_next(path, int(body["status"]), count, body.get("retryAfter"), method)
    return JSONResponse([dataclasses.asdict(f) for f in state.faults])


async def finish_upload(request: Request) -> Response:
    state = _sim(request)
    file_uuid = request.path_params["file_uuid"]
    if file_uuid not in state.registrations:
        raise MeditError(404, "not_found", f"No registered file: {file_uuid}")
    record = await state.finish_processing(file_uuid, success=(await _body(request)).get("success", True))
    return JSONResponse(dataclasses.asdict(record))


async def clock(request: Request) -> Response:
    state = _sim(request)
    state.advance(float((await _body(request)).get("seconds", 0)))
    return JSONResponse({"now": state.now(), "offset": state.clock_offset_s})


async def tokens(request: Request) -> Response:
    state = _sim(request)
    if request.url.path.endswith("/expire"):
        state.expire_access_tokens()
    else:
        state.revoke_refresh_tokens()
    return Response(status_code=204)


routes = [
    Route("/_sim/state", summary, methods=["GET"]),
    Route("/_sim/config", configure, methods=["PATCH"]),
    Route("/_sim/cases", create_case, methods=["POST"]),
    Route("/_sim/cases/{case_uuid}/{action}", case_action, methods=["POST"]),
    Route("/_sim/orders", create_order, methods=["POST"]),
    Route("/_sim/orders/{number:int}/status", order_status, methods=["POST"]),
    Route("/_sim/faults", fault, methods=["POST"]),
    Route("/_sim/uploads/{file_uuid}/finish", finish_upload, methods=["POST"]),
    Route("/_sim/clock/advance", clock, methods=["POST"]),
    Route("/_sim/tokens/expire", tokens, methods=["POST"], name="expire"),
    Route("/_sim/tokens/revoke-refresh", tokens, methods=["POST"], name="revoke"),
]
