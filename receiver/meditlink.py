"""Medit Link upload callback route (meditlink-openapi.txt §3.4.2 `callbackUrl`, Appendix B step 3).

POST /hooks/meditlink/{token}: the payload is not documented, so any JSON object within the size
bound is accepted and kept verbatim in the inbound topic; the file uuid, case uuid, order number
and status are picked out where present (keys in any case, nested objects searched) → `scan.notified`.
An object with none of them is still accepted and published, with no ids. A callback whose file uuid
an `upload_file` command registered finishes that command (receiver/commands.py); any other is still
accepted and kept verbatim. A recognised id of the
wrong shape is refused with 422 (DESIGN.md §5.6): an order number is a number (§3.5.2 Get Order:
`"orderNumber" : 3706720`); case and file uuids are UUIDs in every example of the doc, which gives
them no formal type, so any URL-safe token is accepted (no `/`, `?`, `#`, `%`, spaces, no `..`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bus.base import Bus
from receiver import commands
from receiver.auth import authenticated_body
from receiver.body import parse_object
from receiver.errors import ApiError
from receiver.publish import now, publish_notification
from schemas.events import ScanNotified
from schemas.settings import MeditConnection, Settings
from state.base import ConnectionKey, StateStore
from state.errors import StateError
from state.shared import SharedLink

VENDOR = "meditlink"
MAX_DEPTH = 4
# Recognised names (compared lower-case, `_` and `-` ignored), most specific first.
FILE_KEYS = ("fileuuid", "fileid")
CASE_KEYS = ("caseuuid", "caseid")
ORDER_KEYS = ("ordernumber", "orderno", "orderid")
STATUS_KEYS = ("status", "result", "processstatus", "state")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_~:=+.-]{0,127}")
SHAPES = {"order_id": re.compile(r"[0-9]{1,20}"), "case_id": _TOKEN, "file_id": _TOKEN}


def _norm(key: object) -> str:
    return str(key).lower().replace("_", "").replace("-", "")


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
        return text[:200] or None
    return None


def recognise(body: dict[str, Any]) -> dict[str, str]:
    """{file_id, case_id, order_id, status} found in `body`; top-level names win over nested ones.
    A bare top-level `uuid` is the file's: the callback answers a file registration (§3.4.2)."""
    found: dict[str, str] = {}

    def put(name: str, value: Any) -> None:
        text = _scalar(value)
        if text and name not in found:
            found[name] = text

    def walk(obj: dict[str, Any], depth: int, parent: str | None) -> None:
        nested: list[tuple[str, dict[str, Any]]] = []
        for key, value in obj.items():
            k = _norm(key)
            if isinstance(value, dict):
                nested.append((k, value))
                continue
            if k in FILE_KEYS:
                put("file_id", value)
            elif k in CASE_KEYS:
                put("case_id", value)
            elif k in ORDER_KEYS:
                put("order_id", value)
            elif k in STATUS_KEYS and isinstance(value, str):
                put("status", value)
            elif k == "uuid":
                put({"case": "case_id", "order": "order_id"}.get(parent or "", "file_id"), value)
        if depth < MAX_DEPTH:
            for k, value in nested:
                walk(value, depth + 1, k)

    walk(body, 0, None)
    return found


def check_shapes(ids: dict[str, str]) -> None:
    """422 for a recognised id that cannot be a Medit Link id (it would be sent back in a URL)."""
    for name, shape in SHAPES.items():
        value = ids.get(name)
        if value is not None and (not shape.fullmatch(value) or ".." in value):
            raise ApiError(422, "invalid_id", f"{name} does not have the shape of a Medit Link id")


class Accounts:
    """Each connection's account label, the group uuid kept with its grant in the state store (read
    again after `ttl_s`; while the store does not answer, the last one read, else the connection id)."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[str | None, float]] = {}

    async def of(self, state: StateStore, connection_id: str) -> str:
        known = self._known.get(connection_id)
        if known is not None and time.monotonic() - known[1] < self._ttl_s:
            return known[0] or connection_id
        try:
            grant = await state.credentials.get(ConnectionKey(VENDOR, connection_id))
        except StateError:
            return (known[0] if known else None) or connection_id
        group = grant.extra.get("group_uuid") if grant is not None else None
        account = group if isinstance(group, str) and group else None
        self._known[connection_id] = (account, time.monotonic())
        return account or connection_id


def routes(settings: Settings, bus: Bus, shared: SharedLink) -> list[Route]:
    accounts = Accounts(settings.state.reload_s)

    async def callback(request: Request) -> JSONResponse:
        limit = settings.receiver.max_body_bytes
        now_shared = shared()
        known = now_shared.catalog.of(MeditConnection)
        connection, raw = await authenticated_body(request, known, limit)
        body = parse_object(raw)
        ids = recognise(body)
        check_shapes(ids)
        account = await accounts.of(now_shared.store, connection.id)
        # the callback answers an upload_file command of ours when its file uuid is linked to one
        command = await commands.match(now_shared.store, VENDOR, connection.id, ids.get("file_id"))
        notified = ScanNotified(vendor=VENDOR, account=account, connection=connection.id,
                                file_id=ids.get("file_id"), case_id=ids.get("case_id"),
                                order_id=ids.get("order_id"), status=ids.get("status"),
                                learned_by="webhook", received_at=now(),
                                command_id=command.command_id if command else None)
        subject = ids.get("order_id") or ids.get("case_id") or ids.get("file_id") or "unrecognised"
        event = await publish_notification(
            bus, settings.bus.topics, raw=raw,
            content_type=request.headers.get("content-type", "application/json"),
            route=f"/hooks/{VENDOR}", notified=notified, subject=subject,
        )
        if command is not None:
            await commands.finish(bus, settings.bus.topics, now_shared.store, command, body,
                                  ids.get("status"), names=settings.privacy.patient_fields == "keep")
        return JSONResponse({"accepted": True, "event_id": event.id, "recognised": sorted(ids)},
                            status_code=202)

    return [Route(f"/hooks/{VENDOR}/{{token:str}}", callback, methods=["POST"])]
