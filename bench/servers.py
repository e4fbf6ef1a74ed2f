"""Bench child processes: the bare endpoint, the real receiver, and the real worker.

    python -m bench.servers bare PORT
    python -m bench.servers receiver CONFIG PORT [PROCESSES]
    python -m bench.servers worker CONFIG

The receiver is `scanbridge receiver [--workers PROCESSES]` itself: the command's own entry point (the
CLI, scanbridge/eventloop.py's uvloop loop, the spool in front of Kafka), given a configuration file
written from CONFIG. The bare endpoint runs under the same uvicorn settings on the same loop
(scanbridge/runtime.py: uvloop, httptools with one write per answer, no access log, lifespan on).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.stack import StackConfig
from scanbridge import eventloop
from scanbridge.httpwrites import JoinedWritesProtocol
from scanbridge.runtime import run_worker, started_bus, stop_event


def serve(app: Any, port: int) -> None:
    """uvicorn as `run_receiver` configures it, on 127.0.0.1:port, on the loop of `eventloop.run`."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                            lifespan="on", http=JoinedWritesProtocol)
    eventloop.run(uvicorn.Server(config).serve())


def bare_app() -> Starlette:
    """The ceiling: read the POST body and answer 200, nothing else."""

    async def hook(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/hooks/{vendor:str}/{token:str}", hook, methods=["POST"]),
                             Route("/healthz", healthz)])


def receiver(config: StackConfig, config_path: Path, port: int, processes: int) -> None:
    """`scanbridge --config FILE receiver --workers PROCESSES`, in this process (it creates the topics)."""
    from scanbridge.cli import app

    toml = config_path.with_name(f"{config_path.stem}-{port}.toml")
    toml.write_text(config.toml(port))
    if config.backend != "kafka":
        os.environ.pop("KAFKA_BOOTSTRAP", None)  # it would select Kafka (schemas/settings.py)
    app(["--config", str(toml), "receiver", "--workers", str(processes)], prog_name="scanbridge")


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
        receiver(StackConfig.load(Path(argv[1])), Path(argv[1]), int(argv[2]),
                 int(argv[3]) if len(argv) > 3 else 1)
    elif mode == "worker":
        eventloop.run(worker(StackConfig.load(Path(argv[1]))))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
