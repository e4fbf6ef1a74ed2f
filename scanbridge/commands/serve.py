"""`scanbridge run | receiver | worker`: the long-running processes."""

from __future__ import annotations

import asyncio

import typer

from scanbridge import logs
from scanbridge.runtime import load_settings, run


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_all() -> None:
        """Receiver and worker in one process (the main job)."""
        _start(receiver=True, worker=True)

    @app.command("receiver")
    def receiver() -> None:
        """Only the webhook receiver."""
        _start(receiver=True, worker=False)

    @app.command("worker")
    def worker() -> None:
        """Only the worker (consumes scan.notified, fetches orders and artifacts)."""
        _start(receiver=False, worker=True)


def _start(*, receiver: bool, worker: bool) -> None:
    settings = load_settings()
    logs.configure(settings.log_level)
    asyncio.run(run(settings, receiver=receiver, worker=worker))
