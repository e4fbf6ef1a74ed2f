"""`scanbridge run | receiver | worker | poller`: the long-running processes."""

from __future__ import annotations

import logging
import sys

import typer

from scanbridge import eventloop, logs, receivers, tracing
from scanbridge.runtime import load_settings, run
from scanbridge.summary import startup_fields, version

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_all() -> None:
        """Receiver, worker, pollers (unless `poller.enabled = false`) and deliveries to HTTP subscriptions
        (unless `delivery.enabled = false`) in one process (the main job)."""
        _start(receiver=True, worker=True, poller=None, delivery=None)

    @app.command("receiver")
    def receiver(
        workers: int = typer.Option(1, "--workers", "-w", min=1, help=(
            "receiver processes on the one port (SO_REUSEPORT), each with its own spool: one per core")),
    ) -> None:
        """Only the webhook receiver."""
        _start(receiver=True, worker=False, workers=workers)

    @app.command("worker")
    def worker() -> None:
        """Only the worker (consumes scan.notified, fetches orders and artifacts)."""
        _start(receiver=False, worker=True)

    @app.command("poller")
    def poller() -> None:
        """Only the pollers: iTero and Align orders and screen captures, Medit Link orders and cases, 3Shape
        Dental Desktop cases of the watched patients (and its commands topic)."""
        _start(receiver=False, worker=False, poller=True)

    @app.command("deliver")
    def deliver() -> None:
        """Only the deliveries to HTTP subscriptions (`scanbridge subscriptions`), signed with the Standard
        Webhooks scheme."""
        _start(receiver=False, worker=False, delivery=True)


def _start(*, receiver: bool, worker: bool, poller: bool | None = False,
           delivery: bool | None = False, workers: int = 1) -> None:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    polling = settings.poller.enabled if poller is None else poller
    delivering = settings.delivery.enabled if delivery is None else delivery
    wanted = (("receiver", receiver), ("worker", worker), ("pollers", polling), ("delivery", delivering))
    processes = [name for name, on in wanted if on]
    log.info("scanbridge %s starting: %s", version(), ", ".join(processes) + (
        f" ({workers} processes)" if workers > 1 else ""), extra=startup_fields(settings, processes))
    if workers > 1:  # each process sets up its own tracing
        sys.exit(receivers.serve(settings, workers))
    tracing.setup_from_env("-".join(processes) if len(processes) == 1 else "run")
    eventloop.run(run(settings, receiver=receiver, worker=worker, poller=polling, delivery=delivering))
