"""iTero's and Align's controls on the console's connection page: store the tokens of a new pairing, then
clear the un-paired state (Align lab guideline §3.8)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers.itero import pairing
from scanbridge.console.connection_access import back, refreshed, stored_model
from scanbridge.console.context import Console
from scanbridge.plugin import ConsoleControls
from schemas import connections as models
from state.base import Connection, ConnectionKey

VENDORS = ("itero", "align")


def routes(console: Console) -> list[BaseRoute]:
    return [Route(f"/connections/{vendor}/{{id}}/pair", _pair(console, vendor), methods=["POST"])
            for vendor in VENDORS]  # one per vendor of the plug-in: another vendor's connection is a 404


def _pair(console: Console, vendor: str) -> Callable[[Request], Awaitable[Response]]:
    async def pair(request: Request) -> Response:
        operator, form = await console.form(request)
        key = ConnectionKey(vendor, request.path_params["id"])
        _, model = await stored_model(console, key)
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
        await refreshed(console)
        return back(key, "paired: new tokens stored" + (", un-paired state cleared" if cleared else ""))

    return pair


def controls() -> ConsoleControls:
    return ConsoleControls(fragment=Path(__file__).with_suffix(".html"), routes=routes)
