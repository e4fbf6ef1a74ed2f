"""Connections: every connection with its health (last success, last error, failing since, lease holder)
from the state store; add, edit, remove (writes the store: running processes follow within
`state.reload_s`); "Connect Medit Link" (the authorization-code flow of meditlink-openapi.txt §1.2.1, back
to this page); iTero/Align pairing (new tokens, then the un-paired state cleared: Align lab guideline §3.8);
3Shape's server check (TLS pinned by thumbprint, GetAvailableClientList) and its watched patients
(3shape-dental-desktop-pms-integration.txt "Concept of patient mapping")."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from consumers.errors import VendorError
from consumers.itero import pairing
from consumers.meditlink.oauth import authorize_url
from consumers.threeshape.connection import dental_desktop
from consumers.threeshape.watchlist import WatchList
from scanbridge.commands.connections import _row
from scanbridge.console import connection_forms as forms
from scanbridge.console.context import Console
from schemas import connections as models
from schemas.settings import IteroConnection, MeditConnection, ThreeShapeConnection
from state.base import Connection, ConnectionKey


def _back(key: ConnectionKey, note: str = "") -> RedirectResponse:
    suffix = f"?note={quote(note)}" if note else ""
    return RedirectResponse(f"/connections/{quote(key.vendor)}/{quote(key.id)}{suffix}", 303)


def routes(console: Console) -> list[Route]:
    async def model_of(key: ConnectionKey) -> Any:
        stored = await console.store.connections.get(key)
        if stored is None:
            raise HTTPException(404, f"No connection {key} in the state store.")
        try:
            return stored, forms.parse(key.vendor, json.dumps(dict(stored.settings)))
        except forms.FormProblem as exc:
            raise HTTPException(409, f"{key} in the state store no longer validates: {exc}") from None

    async def refreshed() -> None:
        await console.shared.catalog.refresh()  # this process sees its own change at once

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
        await refreshed()
        return _back(key, "added")

    async def detail(request: Request) -> Response:
        console.operator(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        stored, model = await model_of(key)
        extra: dict[str, Any] = {}
        if isinstance(model, ThreeShapeConnection):
            extra["patients"] = await WatchList(console.store, model).ids()
            extra["configured_patients"] = model.patients
        return console.page(request, "connection.html", {
            "page": "connections", "key": key, "row": await _row(console.store, key, model),
            "source": stored.source, "settings": forms.shown(model), "kind": _kind(model),
            "note": request.query_params.get("note"), "error": None, **extra})

    async def edit(request: Request) -> Response:
        operator, form = await console.form(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        stored, _ = await model_of(key)
        try:
            model = forms.parse(key.vendor, str(form.get("settings", "")), stored.settings)
        except forms.FormProblem as exc:
            raise HTTPException(400, f"Not saved: {exc}") from None
        if str(getattr(model, "id", "")) != key.id:
            raise HTTPException(400, "Not saved: the id cannot change (add a new connection instead).")
        await console.store.connections.put(Connection(key, models.revealed(model), "runtime"))
        await console.audit(operator.name, "connection.edit", str(key))
        await refreshed()
        return _back(key, "saved")

    async def remove(request: Request) -> Response:
        operator, _ = await console.form(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        if not await console.store.connections.remove(key):
            raise HTTPException(404, f"No connection {key} in the state store.")
        await console.audit(operator.name, "connection.remove", str(key))
        await refreshed()
        return RedirectResponse(f"/connections?note={quote(f'{key} removed')}", 303)

    async def connect_medit(request: Request) -> Response:
        operator, _ = await console.form(request)
        key = ConnectionKey("meditlink", request.path_params["id"])
        _, model = await model_of(key)
        if not isinstance(model, MeditConnection):
            raise HTTPException(404, "Not a Medit Link connection.")
        back = f"{console.settings.console.url()}/connections/meditlink/{quote(key.id)}"
        url = await authorize_url(console.store, model, console.settings.receiver.public_url,
                                  extra={"return_to": back})
        await console.audit(operator.name, "meditlink.authorize", str(key))
        return RedirectResponse(url, 303)

    async def pair(request: Request) -> Response:
        operator, form = await console.form(request)
        key = ConnectionKey(request.path_params["vendor"], request.path_params["id"])
        _, model = await model_of(key)
        if not isinstance(model, IteroConnection):
            raise HTTPException(404, "Not an iTero/Align connection.")
        changes: dict[str, Any] = {}
        for field in ("access_token", "refresh_token"):
            if value := str(form.get(field, "")).strip():
                changes[field] = SecretStr(value)
        for field in ("company_id", "discovery_domain", "discovery_path"):
            if value := str(form.get(field, "")).strip():
                changes[field] = value
        paired = model.model_copy(update=changes)
        await console.store.connections.put(Connection(key, models.revealed(paired), "runtime"))
        cleared = await pairing.reset(console.store, key)
        await console.audit(operator.name, "itero.pair", str(key),
                            {"fields": sorted(changes), "unpaired_cleared": cleared})
        await refreshed()
        return _back(key, "paired: new tokens stored" + (", un-paired state cleared" if cleared else ""))

    async def check_3shape(request: Request) -> Response:
        operator, _ = await console.form(request, admin=False)
        key = ConnectionKey("3shape", request.path_params["id"])
        _, model = await model_of(key)
        if not isinstance(model, ThreeShapeConnection):
            raise HTTPException(404, "Not a 3Shape connection.")
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
        _, model = await model_of(key)
        if not isinstance(model, ThreeShapeConnection):
            raise HTTPException(404, "Not a 3Shape connection.")
        ids = [line for line in str(form.get("ids", "")).split() if line]
        watch = WatchList(console.store, model)
        try:
            changed = await (watch.unwatch(ids) if form.get("action") == "unwatch" else watch.watch(ids))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        action = "unwatch" if form.get("action") == "unwatch" else "watch"
        await console.audit(operator.name, f"threeshape.{action}", str(key), {"patients": len(changed)})
        return _back(key, f"{len(changed)} patient(s) {action}ed")

    one = "/connections/{vendor}/{id}"
    return [
        Route("/connections", listing),
        Route("/connections/add", add, methods=["POST"]),
        Route("/connections/meditlink/{id}/connect", connect_medit, methods=["POST"]),
        Route("/connections/3shape/{id}/check", check_3shape, methods=["POST"]),
        Route("/connections/3shape/{id}/patients", patients, methods=["POST"]),
        Route(one, detail),
        Route(f"{one}/edit", edit, methods=["POST"]),
        Route(f"{one}/remove", remove, methods=["POST"]),
        Route(f"{one}/pair", pair, methods=["POST"]),
    ]


def _kind(model: Any) -> str:
    if isinstance(model, MeditConnection):
        return "meditlink"
    if isinstance(model, IteroConnection):
        return "itero"
    if isinstance(model, ThreeShapeConnection):
        return "threeshape"
    return "other"
