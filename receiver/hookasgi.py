"""Webhook routes as plain ASGI apps, and the receiver app that reaches them directly (issue 16).

A `HookEndpoint` is a Starlette route endpoint that is an ASGI app of its own: it reads the headers and
the body straight from the ASGI scope and messages (no `Request`), answers with two ASGI messages (no
`Response`), and turns its errors into answers with the app's own exception handlers
(receiver/errors.py), so a refusal reads exactly as from a Starlette endpoint.

`ReceiverApp` is the receiver's Starlette app. A `POST /hooks/<vendor>/<token>` whose first matching
route is a `HookEndpoint` goes straight to it, counted by the webhook metrics, instead of through
Starlette's middleware stack and router (~20 µs a request); every other request, and every request
while another middleware is installed (tracing's), takes Starlette's way, which ends at the same
endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from receiver import metrics

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
JSON_HEADERS = (b"content-type", b"application/json")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case, as ASGI servers give them), like `Request.headers`."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_json(send: Send, status: int, body: bytes) -> None:
    """What `JSONResponse` sends for an already encoded body."""
    await send({"type": "http.response.start", "status": status,
                "headers": [JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HookEndpoint:
    """Base of the plain ASGI hook routes: `handle` answers or raises; errors go to `handlers`."""

    def __init__(self, handlers: Mapping[Any, ErrorHandler]) -> None:
        self._handlers = handlers

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.handle(scope, receive, send)
        except Exception as exc:
            handler = next((self._handlers[cls] for cls in type(exc).__mro__ if cls in self._handlers), None)
            if handler is None:
                raise  # a 500, as from Starlette's ServerErrorMiddleware
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)


class ReceiverApp(Starlette):
    """Starlette, with the direct way to `HookEndpoint` routes described in the module docstring."""

    _direct: dict[str, Route] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            parts = scope["path"].split("/")
            if len(parts) == 4 and parts[1] == "hooks" and parts[3]:
                direct = self._direct if self._direct is not None else self._direct_routes()
                route = direct.get(parts[2])
                if route is not None:
                    scope["app"] = self
                    scope["route"] = route
                    scope["path_params"] = {"token": parts[3]}
                    await metrics.counted(route.app, parts[2], scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def _direct_routes(self) -> dict[str, Route]:
        """vendor → its hook route, for the vendors whose route is a HookEndpoint that Starlette's router
        would pick first; none at all while a middleware other than the webhook counter is installed."""
        direct: dict[str, Route] = {}
        if all(m.cls is metrics.WebhookCounter for m in self.user_middleware):
            for index, route in enumerate(self.routes):
                if not isinstance(route, Route) or not isinstance(route.endpoint, HookEndpoint) \
                        or "POST" not in (route.methods or ()):
                    continue
                parts = route.path.split("/")
                if len(parts) != 4 or parts[1] != "hooks" or parts[3] != "{token:str}":
                    continue
                probe = {"type": "http", "method": "POST", "path": f"/hooks/{parts[2]}/t", "root_path": ""}
                if all(r.matches(probe)[0] is Match.NONE for r in self.routes[:index]):
                    direct.setdefault(parts[2], route)
        self._direct = direct
        return direct
