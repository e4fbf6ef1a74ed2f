"""End to end: from the receiver's 202 to `artifact.stored` on the artifacts topic, per scan.

Simulator, receiver and worker each run in their own process on one real Kafka broker; this process
posts the simulator's scan notifications at a steady rate and consumes the artifacts topic, so both
timestamps come from one clock. A scan of SIZE bytes is an IDE zip of SIZE plus an image gallery of
SIZE/4 (no screen captures: 204); its latency is taken at its last `artifact.stored`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import HOST, background, free_port, percentile
from bench.stack import COMPANY_ID, StackConfig
from bus.kafka import KafkaBus
from schemas.settings import KafkaSettings
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED

WARMUP_SCANS = 5
ARTIFACTS_PER_SCAN = 2  # IDE and IMAGE_GALLERY


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the process's peak resident set so far."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Watcher:
    """Consumes the artifacts topic and notes when each scan's artifacts arrive."""

    def __init__(self, bus: KafkaBus, topic: str, group: str) -> None:
        self._consumer = bus.consumer([topic], group)
        self.stored: dict[str, list[float]] = {}
        self.failed = 0

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.end_offsets()  # waits for the assignment

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            deliveries = await self._consumer.poll(max_records=500, timeout_s=0.2)
            now = time.perf_counter()
            for d in deliveries:
                if d.event.type == ARTIFACT_STORED and d.event.subject:
                    self.stored.setdefault(d.event.subject, []).append(now)
                elif d.event.type == ARTIFACT_FAILED:
                    self.failed += 1

    def complete(self, rx_ids: list[str]) -> int:
        return sum(1 for rx in rx_ids if len(self.stored.get(rx, ())) >= ARTIFACTS_PER_SCAN)

    async def close(self) -> None:
        await self._consumer.close()


async def _post(client: httpx.AsyncClient, hook: str, rx_id: str, accepted: dict[str, float]) -> None:
    body = json.dumps({"Id": rx_id, "CompanyId": COMPANY_ID}).encode()
    response = await client.post(hook, content=body, headers={"content-type": "application/json"})
    if response.status_code == 202:
        accepted[rx_id] = time.perf_counter()


async def _wait(watcher: Watcher, rx_ids: list[str], timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while watcher.complete(rx_ids) < len(rx_ids) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)


async def drive(config: StackConfig, hook: str, scans: list[str], warmup: list[str], rate: float,
                drain_s: float) -> dict[str, Any]:
    bus = KafkaBus(KafkaSettings(bootstrap=config.bootstrap))
    watcher = Watcher(bus, config.topics.artifacts, f"bench-watch-{config.suffix}")
    await watcher.start()
    stop = asyncio.Event()
    watching = asyncio.create_task(watcher.run(stop))
    accepted: dict[str, float] = {}
    try:
        async with httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=64)) as client:
            await asyncio.gather(*(_post(client, hook, rx, {}) for rx in warmup))
            await _wait(watcher, warmup, 60.0)
            began = time.perf_counter()
            posts = []
            for i, rx in enumerate(scans):  # a steady rate: scan i is posted at began + i / rate
                await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
                posts.append(asyncio.create_task(_post(client, hook, rx, accepted)))
            await asyncio.gather(*posts)
            sent_s = time.perf_counter() - began
            await _wait(watcher, scans, drain_s)
            total_s = time.perf_counter() - began
    finally:
        stop.set()
        await watching
        await watcher.close()
    last = [max(watcher.stored[rx]) - accepted[rx] for rx in scans
            if rx in accepted and len(watcher.stored.get(rx, ())) >= ARTIFACTS_PER_SCAN]
    first = [min(watcher.stored[rx]) - accepted[rx] for rx in scans
             if rx in accepted and rx in watcher.stored]
    return {
        "scans": len(scans), "accepted": len(accepted), "completed": len(last), "failed": watcher.failed,
        "rate_per_s": rate, "send_s": sent_s, "total_s": total_s,
        "p50_ms": percentile(last, 50) * 1000, "p99_ms": percentile(last, 99) * 1000,
        "max_ms": max(last, default=float("nan")) * 1000,
        "first_artifact_p50_ms": percentile(first, 50) * 1000,
        "first_artifact_p99_ms": percentile(first, 99) * 1000,
    }


def run(bootstrap: str, scans: int, size: int, rate: float, drain_s: float = 120.0) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="scanbridge-bench-e2e-"))
    try:
        sim_port = free_port()
        sim_dir = tmp / "simulator"
        sim_dir.mkdir()
        with background("bench.simserver",
                        [str(sim_dir), str(sim_port), "IDE,IMAGE_GALLERY", f"{size}:{scans + WARMUP_SCANS}"],
                        ready_url=f"http://{HOST}:{sim_port}/healthz", timeout_s=300):
            sim = json.loads((sim_dir / "sim.json").read_text())
            config = StackConfig(backend="kafka", workdir=str(tmp), bootstrap=bootstrap, sim_url=sim["url"],
                                 access_token=sim["access_token"], refresh_token=sim["refresh_token"])
            path = config.dump(tmp / "config.json")
            port = free_port()
            base = f"http://{HOST}:{port}"
            receiver = background("bench.servers", ["receiver", str(path), str(port)],
                                  ready_url=f"{base}/healthz")
            with receiver, background("bench.servers", ["worker", str(path)]) as worker:
                rx_ids = [o["rx_id"] for o in sim["orders"]]
                result = asyncio.run(drive(config, f"{base}/hooks/itero/{config.webhook_token}",
                                           rx_ids[WARMUP_SCANS:], rx_ids[:WARMUP_SCANS], rate, drain_s))
                result["worker_peak_rss_mb"] = peak_rss_mb(worker.pid)
        result["size_bytes"] = size
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
