"""Bench child processes: the bare endpoint, the real receiver, and the real worker.

    python -m bench.servers bare PORT
    python -m bench.servers receiver CONFIG PORT
    python -m bench.servers worker CONFIG

The bare endpoint and the receiver run under the very same uvicorn settings as `scanbridge receiver`
(scanbridge/runtime.py: uvloop and httptools when installed, no access log, lifespan on).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.stack import StackConfig
from bus.factory import make_bus
from scanbridge.receiving import create_app
from scanbridge.runtime import run_worker, started_bus, stop_event


def serve(app: Any, port: int) -> None:
    """uvicorn as `run_receiver` configures it, on 127.0.0.1:port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            lifespan="on")
    uvicorn.Server(config).run()


def bare_app() -> Starlette:
    """The ceiling: read the POST body and answer 200, nothing else."""

    async def hook(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/hooks/{vendor:str}/{token:str}", hook, methods=["POST"]),
                             Route("/healthz", healthz)])


async def _ensure_topics(config: StackConfig) -> None:
    settings = config.settings()
    bus = make_bus(settings.bus)
    try:
        await bus.ensure_topics(settings.bus.topics.all())
    finally:
        await bus.close()


def receiver(config: StackConfig, port: int) -> None:
    asyncio.run(_ensure_topics(config))
    settings = config.settings()
    serve(create_app(settings, make_bus(settings.bus)), port)


async def worker(config: StackConfig) -> None:
    settings = config.settings()
    stop = stop_event()
    async with started_bus(settings) as bus:
        await run_worker(settings, bus, stop)


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    mode = argv[0]
    if mode == "bare":
        serve(bare_app(), int(argv[1]))
    elif mode == "receiver":
        receiver(StackConfig.load(Path(argv[1])), int(argv[2]))
    elif mode == "worker":
        asyncio.run(worker(StackConfig.load(Path(argv[1]))))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
