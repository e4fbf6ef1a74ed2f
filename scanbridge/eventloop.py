"""The event loop of every long-running command: uvloop when installed (a dependency), else asyncio's.

uvicorn installs uvloop only when it creates the loop itself (`uvicorn.run`); our commands start uvicorn
inside a loop of their own (`Server.serve()` beside the worker and the pollers), so the loop is chosen
here (issue 16). uvicorn picks httptools for HTTP/1.1 by itself when it is installed (`http="auto"`).

Before the loop starts, what the process made so far — modules, classes, settings: objects that live as long
as the process — is moved out of the garbage collector's reach (`gc.freeze`). Every full collection walked
them again: under load each was a pause of tens of milliseconds in the middle of requests (the receiver's p99
at 64 connections: ~95 → ~30 ms on the bench machine) and a share of the CPU per webhook. Cycles made later
are collected as before.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on a uvloop loop when uvloop is importable, the start-up objects frozen."""
    freeze_start_up()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; some platforms lack a wheel
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def freeze_start_up() -> None:
    """Collect what is garbage now, then keep the rest out of every later collection (`gc.freeze`)."""
    gc.collect()
    gc.freeze()


def describe() -> str:
    """The running loop's kind, for the start-up log line: "uvloop" or "asyncio"."""
    loop = type(asyncio.get_running_loop())
    return "uvloop" if loop.__module__.startswith("uvloop") else "asyncio"


def http_protocol() -> str:
    """What uvicorn's `http="auto"` picks: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover
        return "h11"
    return "httptools"
