"""User, group, case and order endpoints (meditlink-openapi.txt §3.1 User, §3.2 Group, §3.3 Case,
§3.5 Order), including the documented paging and query limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.meditlink import render
from simulators.meditlink.errors import MeditError
from simulators.meditlink.guard import Caller, caller
from simulators.meditlink.records import Case, Order

T = TypeVar("T")
MAX_MS = 253402300799000  # §3.5.1 "Must be at most 253402300799000"


def _int(request: Request, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MeditError(400, "bad_request", f"{name}: must be a number") from None
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" + (f" and at most {high}" if high is not None else "")
        raise MeditError(400, "bad_request", f"{name}: must be {bound}")
    return value


def _required(value: int | None, name: str) -> int:
    if value is None:
        raise MeditError(400, "bad_request", f"{name}: must not be null")
    return value


def _statuses(request: Request) -> set[str]:
    """`status=&status=` (§3.5.1 example) means no filter; several values mean any of them."""
    return {s for s in request.query_params.getlist("status") if s}


def _paged(items: Sequence[T], number: int, size: int, to_json: Callable[[T], dict[str, object]]) -> Response:
    """One page; "The requested list could not be found" (204) when the page is empty."""
    chunk = items[number * size : (number + 1) * size]
    if not chunk:
        return Response(status_code=204)
    return JSONResponse(render.page([to_json(i) for i in chunk], number, size, len(items)))


async def me(request: Request) -> Response:
    who = caller(request, "USER", group_header=False)
    return JSONResponse(render.me(who.user, who.group))


async def user_by_email(request: Request) -> Response:
    who = caller(request, "USER", group_header=False)
    user = who.state.users.get(request.path_params["email"])
    if user is None or user.group_uuid != who.group.uuid:
        raise MeditError(404, "not_found", "User not found")
    return JSONResponse(render.me(user, who.group))


async def group(request: Request) -> Response:
    who = caller(request, "GROUP", group_header=False)
    found = who.state.groups.get(request.path_params["group_uuid"])
    if found is None:
        raise MeditError(404, "not_found", "Group not found")
    return JSONResponse({**render.group_full(found), "files": [], "schemaVersion": render.SCHEMA})


async def _watched(who: Caller, kind: str, page: int) -> None:
    """Count the search as part of a poll of the caller's group (page 0 of orders/search starts one)."""
    with who.state.polls.watch(who.group.uuid, first_page=kind == "orders" and page == 0):
        if who.state.list_delay_s:
            await asyncio.sleep(who.state.list_delay_s)


async def search_cases(request: Request) -> Response:
    """§3.3.1: start/end filter dateCreated (not dateUpdated), name matches exactly (FAQ)."""
    who = caller(request, "CASE")
    size = _int(request, "size", 20, 1) or 20
    number = _int(request, "page", 0, 0) or 0
    start = _int(request, "start", None, 0)
    end = _int(request, "end", None, 0)
    name = request.query_params.get("name", "")
    statuses = _statuses(request)
    found = [
        c
        for c in who.state.cases.values()
        if who.state.case_visible(c, who.group.uuid)
        and (start is None or c.created_ms >= start)
        and (end is None or c.created_ms <= end)
        and (not name or c.name == name)
        and (not statuses or c.status in statuses)
    ]
    found.sort(key=lambda c: (c.created_ms, c.uuid), reverse=True)
    await _watched(who, "cases", number)
    return _paged(found, number, size, lambda c: render.case_summary(who.state, c, who.group.uuid))


def _case(who: Caller, case_uuid: str) -> Case:
    case = who.state.cases.get(case_uuid)
    if case is None:
        raise MeditError(404, "not_found", f"Case not found: {case_uuid}")
    if not who.state.case_visible(case, who.group.uuid):
        raise MeditError(403, "access_denied", "Access is denied")
    return case


async def get_case(request: Request) -> Response:
    who = caller(request, "CASE")
    case = _case(who, request.path_params["case_uuid"])
    body = render.case_detail(who.state, case, who.group.uuid)
    return JSONResponse({**body, "schemaVersion": render.SCHEMA})


async def search_orders(request: Request) -> Response:
    """§3.5.1: size 1..40, page 0..1000, start/end (dateUpdated, ms) required."""
    who = caller(request, "ORDER")
    size = _int(request, "size", 20, 1, 40) or 20
    number = _int(request, "page", 0, 0, 1000) or 0
    start = _required(_int(request, "start", None, 0, MAX_MS), "start")
    end = _required(_int(request, "end", None, 0, MAX_MS), "end")
    statuses = _statuses(request)
    mine = who.group.uuid
    found = [
        o
        for o in who.state.orders.values()
        if mine in (o.buyer_uuid, o.seller_uuid)
        and start <= o.updated_ms <= end
        and (not statuses or o.status in statuses)
    ]
    found.sort(key=lambda o: (o.updated_ms, o.number), reverse=True)
    await _watched(who, "orders", number)
    return _paged(found, number, size, lambda o: render.order_summary(who.state, o, mine))


def _order(who: Caller, raw: str) -> Order:
    try:
        number = int(raw)
    except ValueError:
        raise MeditError(400, "bad_request", "orderNumber: must be a number") from None
    order = who.state.orders.get(number)
    if order is None:
        raise MeditError(404, "not_found", f"Order not found: {raw}")
    if who.group.uuid not in (order.buyer_uuid, order.seller_uuid):
        raise MeditError(403, "access_denied", "Access is denied")
    return order


async def get_order(request: Request) -> Response:
    who = caller(request, "ORDER")
    order = _order(who, request.path_params["order_number"])
    return JSONResponse(render.order_detail(who.state, order, who.group.uuid))


async def change_order(request: Request) -> Response:
    """§3.5.3–3.5.5: the clinic cancels, the lab accepts or rejects, a PENDING order only (else 409)."""
    who = caller(request, "ORDER")
    order = _order(who, request.path_params["order_number"])
    action = request.path_params["action"]
    change = {
        "cancel": (order.buyer_uuid, "CANCELED"),
        "accept": (order.seller_uuid, "ACCEPTED"),
        "reject": (order.seller_uuid, "REJECTED"),
    }.get(action)
    if change is None:
        raise MeditError(404, "not_found", f"No such action: {action}")
    party, status = change
    if who.group.uuid != party:
        raise MeditError(
            403, "access_denied", f"Only the {'buyer' if action == 'cancel' else 'seller'} may {action}"
        )
    if order.status != "PENDING":
        raise MeditError(409, "conflict", f"Order already processed: {order.status}")
    who.state.set_order_status(order.number, status)
    if action == "cancel":
        return JSONResponse(render.order_brief(who.state, order))
    return JSONResponse(render.order_detail(who.state, order, who.group.uuid))


routes = [
    Route("/v1/me", me, methods=["GET"]),
    Route("/v1/users/{email}", user_by_email, methods=["GET"]),
    Route("/v1/groups/{group_uuid}", group, methods=["GET"]),
    Route("/v1/cases/search", search_cases, methods=["GET"]),
    Route("/v1/cases/{case_uuid}", get_case, methods=["GET"]),
    Route("/v1/orders/search", search_orders, methods=["GET"]),
    Route("/v1/orders/{order_number}", get_order, methods=["GET"]),
    Route("/v1/orders/{order_number}/{action:str}", change_order, methods=["PUT"]),
]
