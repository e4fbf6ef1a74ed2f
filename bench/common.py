"""Shared bench helpers: child processes that answer in JSON, free ports, a Kafka broker, percentiles."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def child_env() -> dict[str, str]:
    """The environment for child processes: no SCANBRIDGE_* settings leak in from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_")}
    env["SCANBRIDGE_CONFIG"] = str(_empty_config())  # a configuration that sets nothing
    env["PYTHONPATH"] = str(ROOT)
    return env


def _empty_config() -> Path:
    """An empty TOML file: a named configuration must be a file (os.devnull is refused)."""
    path = Path(tempfile.gettempdir()) / "scanbridge-bench-empty.toml"
    path.touch()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def run_json(module: str, args: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """Run `python -m module args` and return the JSON object on its last stdout line."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True,
        timeout=timeout_s, env=child_env(), cwd=ROOT, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@contextmanager
def background(module: str, args: Sequence[str], ready_url: str | None = None,
               ready_file: Path | None = None, timeout_s: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """Start `python -m module args`; wait until `ready_url` answers or `ready_file` exists; stop it after."""
    name = module.rsplit(".", 1)[-1]
    log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT,
                            env=child_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout_s
        while not _ready(ready_url, ready_file):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"{module} did not start:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def _ready(url: str | None, path: Path | None) -> bool:
    if path is not None and not path.exists():
        return False
    if url is None:
        return True
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def ratio(value: float | None, ceiling: float | None) -> float | None:
    if value is None or not ceiling:
        return None
    return value / ceiling
