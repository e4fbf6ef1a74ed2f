"""Liveness and readiness: `/healthz` answers while the process runs, `/readyz` only with a live bus."""

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bus.base import Bus


def routes(bus: Bus) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if await bus.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "bus": "unreachable"}, status_code=503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
