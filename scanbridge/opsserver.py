"""`/healthz`, `/readyz` and `/metrics` of a process without the receiver — `scanbridge worker` and
`scanbridge poller` — on `ops.host:ops.port` (DESIGN.md §9: each process serves all three).

`/readyz` is 200 `{"status": "ready"}` once the process works on a reachable bus, else 503 with what
it waits for (`"waiting for the bus"`) or what it cannot do (`"not ready"` with `problems`: a poller that
cannot renew its leases because the state store does not answer says so there); probes and load balancers
read only the status code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

READY = "ready"


@dataclass
class Readiness:
    status: str = "starting"
    checks: list[Callable[[], str | None]] = field(default_factory=list)  # each: a problem, or None

    def problems(self) -> list[str]:
        return [problem for check in self.checks if (problem := check()) is not None]

    @property
    def ready(self) -> bool:
        return self.status == READY and not self.problems()


def create_ops_app(readiness: Readiness) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        problems = readiness.problems()
        if readiness.status == READY and problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": readiness.status}, status_code=200 if readiness.ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                             Route("/metrics", metrics)])


async def serve_ops(host: str, port: int, readiness: Readiness, stop: asyncio.Event) -> None:
    config = uvicorn.Config(create_ops_app(readiness), host=host, port=port, log_config=None,
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving
