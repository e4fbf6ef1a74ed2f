"""The console's Starlette app: the pages of `scanbridge/console/pages/`, the sign-in, static files, and
one place for errors (sign-in needed → the form; 403/404/… → an error page). Every answer carries
headers that keep it out of frames and caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scanbridge.console import signin
from scanbridge.console.context import NO_STORE, Console, SignInRequired
from scanbridge.console.pages import commands, connections, deadletters, orders, overview, replay

STATIC = Path(__file__).parent / "static"
HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
     b"frame-ancestors 'none'"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_console_app(console: Console) -> Starlette:
    routes: list[BaseRoute] = [*signin.routes(console)]
    for page in (overview, connections, orders, deadletters, replay, commands):
        routes += page.routes(console)
    routes.append(Mount("/static", StaticFiles(directory=str(STATIC)), name="static"))

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        if request.method != "GET":
            return console.templates.TemplateResponse(
                request, "error.html", {"status": 401, "message": "Your session ended: sign in again."},
                status_code=401, headers=NO_STORE)
        return RedirectResponse(f"/signin?next={quote(request.url.path)}", 303)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        values: dict[str, Any] = {"status": exc.status_code, "message": exc.detail}
        try:
            values["operator"], values["csrf"] = console.operator(request)
        except SignInRequired:
            pass
        return console.templates.TemplateResponse(request, "error.html", values, status_code=exc.status_code,
                                                  headers=NO_STORE)

    handlers = {SignInRequired: sign_in_first, HTTPException: http_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.add_middleware(SecurityHeaders)
    return app
