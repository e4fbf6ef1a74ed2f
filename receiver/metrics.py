"""Prometheus counters of the receiver and `GET /metrics`; labels never carry tokens or patient data."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOKS = Counter("scanbridge_webhooks_total", "Webhook requests by vendor route and HTTP status",
                   ["vendor", "status"])
KNOWN_VENDORS = frozenset({"itero", "align", "meditlink"})


class WebhookCounter:
    """Counts every `/hooks/<vendor>/…` answer; the token part of the path is never used as a label."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope.get("path", "").split("/") if scope["type"] == "http" else []
        if len(parts) < 3 or parts[1] != "hooks":
            await self.app(scope, receive, send)
            return
        vendor = parts[2] if parts[2] in KNOWN_VENDORS else "unknown"

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                WEBHOOKS.labels(vendor, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def routes() -> list[Route]:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics)]
