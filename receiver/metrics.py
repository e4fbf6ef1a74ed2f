"""Prometheus metrics of the receiver — webhooks by vendor and status, and how long each took to be
answered — and `GET /metrics`; labels never carry tokens or patient data."""

from __future__ import annotations

import time
from typing import Any

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


_children: dict[tuple[str, int], tuple[Any, Any]] = {}  # (vendor, status) → its counter and histogram


def observe(vendor: str, status: int, seconds: float) -> None:
    """Count one answer; the labelled children are looked up once per (vendor, status) (issue 16)."""
    pair = _children.get((vendor, status))
    if pair is None:
        pair = _children[(vendor, status)] = (WEBHOOKS.labels(vendor, str(status)),
                                              WEBHOOK_SECONDS.labels(vendor, str(status)))
    pair[0].inc()
    pair[1].observe(seconds)


async def counted(app: ASGIApp, vendor: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app`, counting its answer under `vendor` (a registered vendor's name or "unknown")."""
    started = time.perf_counter()

    async def counting_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            observe(vendor, message["status"], time.perf_counter() - started)
        await send(message)

    await app(scope, receive, counting_send)


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
        await counted(self.app, parts[2] if parts[2] in self.vendors else "unknown", scope, receive, send)


def routes() -> list[Route]:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics)]
