"""Medit Link's controls on the console's connection page: "Connect Medit Link" starts the
authorization-code flow (meditlink-openapi.txt §1.2.1) and lands back on the page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from consumers.meditlink.oauth import authorize_url
from scanbridge.console.connection_access import stored_model
from scanbridge.console.context import Console
from scanbridge.plugin import ConsoleControls
from state.base import ConnectionKey


def routes(console: Console) -> list[BaseRoute]:
    async def connect(request: Request) -> Response:
        operator, _ = await console.form(request)
        key = ConnectionKey("meditlink", request.path_params["id"])
        _, model = await stored_model(console, key)
        back = f"{console.settings.console.url()}/connections/meditlink/{quote(key.id)}"
        url = await authorize_url(console.store, model, console.settings.receiver.public_url,
                                  extra={"return_to": back})
        await console.audit(operator.name, "meditlink.authorize", str(key))
        return RedirectResponse(url, 303)

    return [Route("/connections/meditlink/{id}/connect", connect, methods=["POST"])]


def controls() -> ConsoleControls:
    return ConsoleControls(fragment=Path(__file__).with_suffix(".html"), routes=routes)
