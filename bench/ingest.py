"""Ingest: webhooks per second and latency through the real receiver against a bare Starlette endpoint.

Each server is its own uvicorn process with the same settings; wrk (one thread, its own process)
drives them in turn over loopback with bench/post.lua, interleaved per concurrency level so that
machine noise hits every column alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import HOST, ROOT, background, free_port
from bench.stack import StackConfig

LUA = ROOT / "bench" / "post.lua"
WARMUP_S = 2


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian (`apt-get install -y wrk`) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False, capture_output=True, timeout=300).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True, timeout=300)
        subprocess.run(install, check=True, capture_output=True, timeout=300)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and could not be installed")
    return found


def wrk(url: str, connections: int, seconds: int) -> dict[str, Any]:
    """One wrk run; the figures come from post.lua's `done` line."""
    cmd = [ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    kinds = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    errors = sum(raw[k] for k in kinds)
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "errors": errors,
    }


def run(bootstrap: str | None, backends: list[str], concurrencies: list[int],
        seconds: int) -> list[dict[str, Any]]:
    """Rows: one per (server, concurrency); server "bare" is the ceiling of the others."""
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="scanbridge-bench-ingest-") as tmp, ExitStack() as stack:
        urls: dict[str, str] = {}
        port = free_port()
        base = f"http://{HOST}:{port}"
        stack.enter_context(background("bench.servers", ["bare", str(port)], ready_url=f"{base}/healthz"))
        urls["bare"] = f"{base}/hooks/itero/{'x' * 40}"
        for backend in backends:
            work = Path(tmp) / backend
            work.mkdir()
            config = StackConfig(backend=backend, workdir=str(work), bootstrap=bootstrap or "")
            path = config.dump(work / "config.json")
            port = free_port()
            base = f"http://{HOST}:{port}"
            stack.enter_context(background("bench.servers", ["receiver", str(path), str(port)],
                                           ready_url=f"{base}/healthz"))
            urls[f"receiver/{backend}"] = f"{base}/hooks/itero/{config.webhook_token}"
        for url in urls.values():
            wrk(url, 16, WARMUP_S)
        rows: list[dict[str, Any]] = []
        for connections in concurrencies:
            for server, url in urls.items():
                figures = wrk(url, connections, seconds)
                rows.append({"server": server, "connections": connections, **figures})
        return rows
