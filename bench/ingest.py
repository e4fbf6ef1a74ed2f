"""Ingest: webhooks per second and latency through the real receiver against a bare Starlette endpoint.

Each server is its own process (the receiver is `scanbridge receiver` itself, bench/servers.py); wrk
(one thread, its own process) drives them in turn over loopback with bench/post.lua, interleaved per
concurrency level so that machine noise hits every column alike. Optional columns: the receiver as
`--workers N` processes on one port, and the receivers of another checkout (`baseline`, e.g. the code
before a change, run from its own folder with its own bench/servers.py) in the same session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.common import HOST, ROOT, _ready, background, child_env, free_port
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


def run(bootstrap: str | None, backends: list[str], concurrencies: list[int], seconds: int,
        processes: list[int] | None = None, baseline: Path | None = None) -> list[dict[str, Any]]:
    """Rows: one per (server, concurrency); server "bare" is the ceiling of the others. Receivers:
    `receiver/<backend>` (one process), `receiver/<backend>/x<N>` (`--workers N`, for N in `processes`),
    `baseline/<backend>` (the checkout at `baseline`)."""
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="scanbridge-bench-ingest-") as tmp, ExitStack() as stack:
        urls: dict[str, str] = {}
        pids: dict[str, int] = {}
        port = free_port()
        base = f"http://{HOST}:{port}"
        pids["bare"] = stack.enter_context(background("bench.servers", ["bare", str(port)],
                                                      ready_url=f"{base}/healthz")).pid
        urls["bare"] = f"{base}/hooks/itero/{'x' * 40}"
        variants: list[tuple[str, str, int, Path | None]] = [
            (f"receiver/{b}" + (f"/x{n}" if n > 1 else ""), b, n, None)
            for b in backends for n in processes or [1]]
        if baseline is not None:
            variants += [(f"baseline/{b}", b, 1, baseline) for b in backends]
        for server, backend, count, checkout in variants:
            work = Path(tmp) / server.replace("/", "-")
            work.mkdir()
            config = StackConfig(backend=backend, workdir=str(work), bootstrap=bootstrap or "")
            path = config.dump(work / "config.json")
            port = free_port()
            base = f"http://{HOST}:{port}"
            if checkout is None:
                args = ["receiver", str(path), str(port), str(count)]
                proc = stack.enter_context(background("bench.servers", args, ready_url=f"{base}/healthz"))
            else:
                proc = stack.enter_context(_baseline(checkout, path, port, backend, f"{base}/healthz"))
            pids[server] = proc.pid
            urls[server] = f"{base}/hooks/itero/{config.webhook_token}"
        for url in urls.values():
            wrk(url, 16, WARMUP_S)
        rows: list[dict[str, Any]] = []
        for connections in concurrencies:
            for server, url in urls.items():
                cpu = cpu_seconds(pids[server])
                figures = wrk(url, connections, seconds)
                cpu = cpu_seconds(pids[server]) - cpu
                rows.append({"server": server, "connections": connections, **figures,
                             "cpu_us": cpu / max(1, figures["requests"]) * 1e6})
        return rows


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process `pid` and every process below it (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, pending = set(), [pid]
    while pending:
        current = pending.pop()
        tree.add(current)
        pending += [child for child, parent in parents.items() if parent == current and child not in tree]
    return sum(times.get(p, 0.0) for p in tree)


@contextmanager
def _baseline(checkout: Path, config: Path, port: int, backend: str,
              ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """The receiver of another checkout, started by its own `bench.servers` from its own folder."""
    env = {**child_env(), "PYTHONPATH": str(checkout)}
    if backend != "kafka":
        env.pop("KAFKA_BOOTSTRAP", None)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "bench.servers", "receiver", str(config), str(port)],
                                cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                if _ready(ready_url, None):
                    break
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"baseline receiver did not start:\n{log.read()[-3000:].decode()}")
                time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)
