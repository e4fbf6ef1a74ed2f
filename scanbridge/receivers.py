"""`scanbridge receiver --workers N`: N receiver processes on one port (issue 16).

One Python process works on one core at a time, so a host with several cores serves more webhooks with
several receivers. Each process binds the port itself with SO_REUSEPORT (the kernel spreads new
connections over them) and has its own event loop, bus producer and spool file. The parent only
supervises: it passes SIGINT/SIGTERM on, and when a process ends on its own it stops the others and
exits with that process's status, so the service manager restarts the set as one.

Spools (bus/spool.py wants one spool file per publishing process): process 0 uses `bus.spool_path` as
configured, process i `<stem>.<i><suffix>` beside it. A spool is drained only by its own process, so the
spools of process numbers that are no longer started are named in a warning at start.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
from multiprocessing.connection import wait
from pathlib import Path
from types import FrameType

from scanbridge import eventloop, logs, tracing
from scanbridge.configload import load_settings
from scanbridge.runtime import run
from schemas.settings import Settings

log = logging.getLogger(__name__)
BACKLOG = 2048  # uvicorn's default


def spool_of(path: Path, index: int) -> Path:
    """The spool file of receiver process `index`: the configured one for 0."""
    return path if index == 0 else path.with_name(f"{path.stem}.{index}{path.suffix}")


def stale_spools(path: Path, count: int) -> list[Path]:
    """Spool files of process numbers ≥ `count` (left by a run with more processes)."""
    found = []
    for candidate in path.parent.glob(f"{path.stem}.*{path.suffix}"):
        number = candidate.name[len(path.stem) + 1: len(candidate.name) - len(path.suffix)]
        if number.isdigit() and int(number) >= count:
            found.append(candidate)
    return sorted(found)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG, reuse_port=True)


def _settings_of(settings: Settings, index: int) -> Settings:
    if settings.bus.spool_path is None:
        return settings
    bus = settings.bus.model_copy(update={"spool_path": spool_of(settings.bus.spool_path, index)})
    return settings.model_copy(update={"bus": bus})


def _process(index: int) -> None:
    """One receiver process (started by `serve` with the spawn method: a fresh interpreter)."""
    settings = load_settings()  # the parent's environment names the same configuration file
    logs.configure(settings.log_level, settings.log_format)
    tracing.setup_from_env("receiver")
    listen = listening_socket(settings.receiver.host, settings.receiver.port)
    eventloop.run(run(_settings_of(settings, index), receiver=True, worker=False, listen=listen))


def serve(settings: Settings, count: int) -> int:
    """Run `count` receiver processes until SIGINT/SIGTERM or until one ends; the exit status."""
    if settings.bus.spool_path is not None:
        for path in stale_spools(settings.bus.spool_path, count):
            log.warning("spool %s belongs to a receiver process that is not started now (%d processes): "
                        "its events are forwarded only once a run with more processes drains it", path, count)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_process, args=(i,), name=f"scanbridge-receiver-{i}")
                 for i in range(count)]
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.start()
        status = 0
        while running := [p for p in processes if p.exitcode is None]:
            wait([p.sentinel for p in running])
            for process in processes:
                if process.exitcode is not None and not stopping:
                    log.error("receiver process %s ended with status %s; stopping the others",
                              process.name, process.exitcode)
                    status = process.exitcode or 1
                    stop_all()
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
