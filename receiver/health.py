"""Liveness and readiness: `/healthz` answers while the process runs; `/readyz` says "ready" with a live
bus, "degraded: spooling" (still 200: webhooks are answered 202 from the fsynced spool) while Kafka is
down or the spool drains, and 503 when nothing can take an event. Other parts of the process (the pollers of
`scanbridge run`) may add `problems`: the receiver still takes webhooks, so they make it "degraded" (200)."""

from collections.abc import Callable
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


def routes(bus: Bus, problems: Callable[[], list[str]] | None = None) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        fallback = bus.degraded() if isinstance(bus, Degradable) else None
        others = problems() if problems is not None else []
        if await bus.ready():
            if others:
                return JSONResponse({"status": f"degraded: {fallback or 'see problems'}", "problems": others})
            return JSONResponse({"status": f"degraded: {fallback}" if fallback else "ready"})
        return JSONResponse({"status": "unavailable", "bus": "unreachable"}, status_code=503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
