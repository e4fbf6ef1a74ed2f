"""Connections: every connection with its health (last success, last error, failing since, lease holder)
from the state store; add, edit, remove (writes the store: running processes follow within
`state.reload_s`). A vendor's own controls on a connection's page ("Connect Medit Link", iTero/Align
pairing, 3Shape's server check and watched patients) come from its plug-in (`ConsoleControls`,
scanbridge/plugin.py): this page includes each registered vendor's fragment and mounts its routes, and
names no vendor (DESIGN.md §11)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from scanbridge.commands.connections import _row
from scanbridge.console import connection_forms as forms
from scanbridge.console.connection_access import back, refreshed, stored_model
from scanbridge.console.context import Console, fragment_name
from schemas import connections as models
from state.base import Connection, ConnectionKey


def routes(console: Console) -> list[BaseRoute]:
    async def listing(request: Request) -> Response:
        console.operator(request)
        rows = [await _row(console.store, k, m) for k, m in console.shared.catalog.items()]
        return console.page(request, "connections.html", {
            "page": "connections", "rows": rows, "vendors": forms.vendors(),
            "note": request.query_params.get("note"), "error": None, "draft": "", "draft_vendor": ""})

    async def add(request: Request) -> Response:
        operator, form = await console.form(request)
        vendor, text = str(form.get("vendor", "")), str(form.get("settings", ""))
        try:
            model = forms.parse(vendor, text)
        except forms.FormProblem as exc:
            rows = [await _row(console.store, k, m) for k, m in console.shared.catalog.items()]
            return console.page(request, "connections.html", {
                "page": "connections", "rows": rows, "vendors": forms.vendors(), "note": None,
                "error": str(exc), "draft": text, "draft_vendor": vendor}, status_code=400)
        key = ConnectionKey(vendor, str(getattr(model, "id", "")))
        added = await console.store.connections.put(Connection(key, models.revealed(model), "runtime"),
                                                    only_if_absent=True)
        if not added:
            raise HTTPException(409, f"{key} exists already: edit it on its page.")
        await console.audit(operator.name, "connection.add", str(key))
        await refreshed(console)
        return back(key, "added")

    async def detail(request: Request) -> Response:
        console.operator(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        stored, model = await stored_model(console, key)
        controls = console.controls.get(key.vendor)
        extra: dict[str, Any] = dict(await controls.values(console, model)) if controls else {}
        return console.page(request, "connection.html", {
            "page": "connections", "key": key, "row": await _row(console.store, key, model),
            "source": stored.source, "settings": forms.shown(model),
            "controls": fragment_name(key.vendor) if controls else None,
            "note": request.query_params.get("note"), "error": None, **extra})

    async def edit(request: Request) -> Response:
        operator, form = await console.form(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        stored, _ = await stored_model(console, key)
        try:
            model = forms.parse(key.vendor, str(form.get("settings", "")), stored.settings)
        except forms.FormProblem as exc:
            raise HTTPException(400, f"Not saved: {exc}") from None
        if str(getattr(model, "id", "")) != key.id:
            raise HTTPException(400, "Not saved: the id cannot change (add a new connection instead).")
        await console.store.connections.put(Connection(key, models.revealed(model), "runtime"))
        await console.audit(operator.name, "connection.edit", str(key))
        await refreshed(console)
        return back(key, "saved")

    async def remove(request: Request) -> Response:
        operator, _ = await console.form(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        if not await console.store.connections.remove(key):
            raise HTTPException(404, f"No connection {key} in the state store.")
        await console.audit(operator.name, "connection.remove", str(key))
        await refreshed(console)
        return RedirectResponse(f"/connections?note={quote(f'{key} removed')}", 303)

    one = "/connections/{vendor}/{id}"
    vendor_routes = [route for controls in {id(c): c for c in console.controls.values()}.values()
                     for route in controls.routes(console)]
    return [
        Route("/connections", listing),
        Route("/connections/add", add, methods=["POST"]),
        *vendor_routes,
        Route(one, detail),
        Route(f"{one}/edit", edit, methods=["POST"]),
        Route(f"{one}/remove", remove, methods=["POST"]),
    ]

