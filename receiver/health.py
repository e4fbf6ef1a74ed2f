"""Liveness and readiness: `/healthz` answers while the process runs; `/readyz` says "ready" with a live
bus, "degraded: spooling" (still 200: webhooks are answered 202 from the fsynced spool) while Kafka is
down or the spool drains, and 503 when nothing can take an event."""

from typing import Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bus.base import Bus


@runtime_checkable
class Degradable(Protocol):
    def degraded(self) -> str | None:
        """What the bus falls back on now ("spooling"), or None when it works normally."""
        ...


def routes(bus: Bus) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        fallback = bus.degraded() if isinstance(bus, Degradable) else None
        if await bus.ready():
            return JSONResponse({"status": f"degraded: {fallback}" if fallback else "ready"})
        return JSONResponse({"status": "unavailable", "bus": "unreachable"}, status_code=503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
