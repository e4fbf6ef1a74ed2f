"""Prometheus metrics of the receiver — webhooks by vendor and status, and how long each took to be
answered — and `GET /metrics`; labels never carry tokens or patient data."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOKS = Counter("scanbridge_webhooks_total", "Webhook requests by vendor route and HTTP status",
                   ["vendor", "status"])
WEBHOOK_SECONDS = Histogram(
    "scanbridge_webhook_seconds", "Time from a webhook's arrival to its answer (a 202 waits for the bus)",
    ["vendor", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class WebhookCounter:
    """Counts every `/hooks/<vendor>/…` answer; the token part of the path is never used as a label."""

    def __init__(self, app: ASGIApp, vendors: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.vendors = vendors  # the registered vendors; any other path segment counts as "unknown"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope.get("path", "").split("/") if scope["type"] == "http" else []
        if len(parts) < 3 or parts[1] != "hooks":
            await self.app(scope, receive, send)
            return
        vendor = parts[2] if parts[2] in self.vendors else "unknown"
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = str(message["status"])
                WEBHOOKS.labels(vendor, status).inc()
                WEBHOOK_SECONDS.labels(vendor, status).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, counting_send)


def routes() -> list[Route]:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics)]
