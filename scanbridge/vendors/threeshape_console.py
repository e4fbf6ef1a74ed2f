"""3Shape's controls on the console's connection page: the server check (TLS pinned by thumbprint,
GetAvailableClientList) and the watched patients (3shape-dental-desktop-pms-integration.txt "Concept of
patient mapping")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers.errors import VendorError
from consumers.threeshape.connection import dental_desktop
from consumers.threeshape.watchlist import WatchList
from scanbridge.console.connection_access import back, stored_model
from scanbridge.console.context import Console
from scanbridge.plugin import ConsoleControls
from state.base import ConnectionKey


async def values(console: Console, model: Any) -> Mapping[str, Any]:
    return {"patients": await WatchList(console.store, model).ids(), "configured_patients": model.patients}


def routes(console: Console) -> list[BaseRoute]:
    async def check(request: Request) -> Response:
        operator, _ = await console.form(request, admin=False)
        key = ConnectionKey("3shape", request.path_params["id"])
        _, model = await stored_model(console, key)
        outcome: dict[str, Any]
        try:
            async with dental_desktop(model) as client:
                clients = await client.get_available_clients()
            outcome = {"ok": True, "clients": [
                {"client_id": c.client_id, "hostname": c.hostname, "busy": c.is_busy,
                 "operator": c.operator_name, "modules": [m.id for m in c.modules]} for c in clients]}
        except VendorError as exc:
            outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        await console.audit(operator.name, "threeshape.check", str(key), {"ok": outcome["ok"]})
        return console.page(request, "check.html", {"page": "connections", "key": key, "outcome": outcome,
                                                    "thumbprint": model.ca_thumbprint})

    async def patients(request: Request) -> Response:
        operator, form = await console.form(request)
        key = ConnectionKey("3shape", request.path_params["id"])
        _, model = await stored_model(console, key)
        ids = [line for line in str(form.get("ids", "")).split() if line]
        watch = WatchList(console.store, model)
        action = "unwatch" if form.get("action") == "unwatch" else "watch"
        try:
            changed = await (watch.unwatch(ids) if action == "unwatch" else watch.watch(ids))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        await console.audit(operator.name, f"threeshape.{action}", str(key), {"patients": len(changed)})
        return back(key, f"{len(changed)} patient(s) {action}ed")

    return [Route("/connections/3shape/{id}/check", check, methods=["POST"]),
            Route("/connections/3shape/{id}/patients", patients, methods=["POST"])]


def controls() -> ConsoleControls:
    return ConsoleControls(fragment=Path(__file__).with_suffix(".html"), routes=routes, values=values)
