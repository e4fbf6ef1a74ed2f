"""Bench child: a subscriber's endpoint that verifies each delivery (standardwebhooks) and notes when it
arrived, by its event id and, for scan.notified, its Rx id.

    python -m bench.endpoint PORT SECRET

`GET /stats` answers {"count", "unverified", "arrivals": {event id: epoch s}, "rx": {rx id: epoch s}}.
"""

from __future__ import annotations

import sys
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.servers import serve


def app(secret: str) -> Starlette:
    verifier = Webhook(secret)
    arrivals: dict[str, float] = {}
    rx: dict[str, float] = {}
    unverified = [0]

    async def hook(request: Request) -> Response:
        body = await request.body()
        try:
            event = verifier.verify(body, dict(request.headers))
        except WebhookVerificationError:
            unverified[0] += 1
            return Response(status_code=401)
        now = time.time()
        arrivals.setdefault(event["id"], now)
        rx_id = (event.get("data") or {}).get("rx_id")
        if rx_id:
            rx.setdefault(rx_id, now)
        return Response(status_code=204)

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse({"count": len(arrivals), "unverified": unverified[0], "arrivals": arrivals,
                             "rx": rx})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/stats", stats),
                             Route("/healthz", healthz)])


if __name__ == "__main__":
    serve(app(sys.argv[2]), int(sys.argv[1]))
