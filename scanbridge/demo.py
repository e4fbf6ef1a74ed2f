"""The demo: iTero simulator + receiver + worker on the embedded `local` bus, a few simulated scans
sent through, their events and files shown. Needs no vendor account and no Kafka."""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import typer
import uvicorn

from bus.base import Bus
from scanbridge.runtime import run_receiver, run_worker, started_bus
from schemas.settings import (
    BusSettings,
    IteroConnection,
    RetrySettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import ARTIFACT_STORED
from simulators.itero.app import create_app as create_sim
from simulators.itero.notify import post_notification
from simulators.itero.state import IteroSimState


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_settings(home: Path, sim_url: str, sim: IteroSimState, token: str, port: int) -> Settings:
    access, refresh = sim.issue_tokens()
    connection = IteroConnection(
        id="demo-clinic", company_id=str(sim.company_id), webhook=WebhookAuth(token=token),
        base_url=sim_url, token_url=f"{sim_url}/oauth/token", access_token=access, refresh_token=refresh,
    )
    return Settings(
        bus=BusSettings(backend="local", local_path=home / "bus.sqlite3"),
        storage=StorageSettings(root=home / "artifacts"),
        worker=WorkerSettings(retry=RetrySettings(initial_delay_s=1.0, max_delay_s=5.0)),
        state_dir=home / "state",
        receiver={"port": port},  # type: ignore[arg-type]
        itero=[connection],
    )


async def _serve_sim(sim: IteroSimState, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(create_sim(sim), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    return server, task


async def _watch(bus: Bus, topic: str, want: int, show: Callable[[str], None], timeout: float) -> int:
    consumer = bus.consumer([topic], f"demo-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    stored = 0
    try:
        async with asyncio.timeout(timeout):
            while stored < want:
                for delivery in await consumer.poll(timeout_s=0.5):
                    data = delivery.event.json_data()
                    if delivery.event.type == ARTIFACT_STORED:
                        stored += 1
                        kind, size, path = data["kind"], data["size"], data["relative_path"]
                        show(f"  artifact.stored  {kind:<15} {size:>9} B  {path}")
    except TimeoutError:
        show(f"  (gave up waiting after {timeout:.0f} s)")
    finally:
        await consumer.close()
    return stored


async def run_demo(home: Path | None, scans: int, size: int, timeout: float) -> int:
    home = home or Path(tempfile.mkdtemp(prefix="scanbridge-demo-"))
    sim = IteroSimState(workdir=home / "simulator")
    sim_port, receiver_port = _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    token = secrets.token_urlsafe(32)
    settings = demo_settings(home, sim_url, sim, token, receiver_port)
    typer.echo(f"demo folder: {home}\nsimulator: {sim_url}   receiver: http://127.0.0.1:{receiver_port}")
    sim_server, sim_task = await _serve_sim(sim, sim_port)
    stop = asyncio.Event()
    async with started_bus(settings) as bus:
        services = [asyncio.create_task(run_receiver(settings, bus, stop)),
                    asyncio.create_task(run_worker(settings, bus, stop))]
        await asyncio.sleep(0.5)
        hook = f"http://127.0.0.1:{receiver_port}/hooks/itero/{token}"
        for i in range(scans):
            order = sim.add_order(size=size, screen_captures=i % 2 == 1)
            response = await post_notification(hook, order.rx_id, order.company_id)
            typer.echo(f"scan {i + 1}: Rx {order.rx_id} notified → receiver answered {response.status_code}")
        want = sum(3 if o.screen_captures else 2 for o in sim.orders.values())
        stored = await _watch(bus, settings.bus.topics.artifacts, want, typer.echo, timeout)
        stop.set()
        await asyncio.gather(*services)
    sim_server.should_exit = True
    await sim_task
    files = sorted(p for p in (home / "artifacts").rglob("*.zip"))
    typer.echo(f"{stored} artifacts stored, {len(files)} files on disk under {home / 'artifacts'}")
    typer.echo(f"the events it left behind:\n  {tail_command(home, 2 * scans)}")
    return 0 if stored == want else 1


def scanbridge_command() -> str:
    """How to run this very `scanbridge` from the current folder (`.venv/bin/scanbridge` after make)."""
    beside = Path(sys.executable).parent / "scanbridge"
    if not beside.exists():
        return "scanbridge"
    found = shutil.which("scanbridge")
    if found and Path(found).resolve() == beside.resolve():
        return "scanbridge"
    relative = os.path.relpath(beside)
    return relative if not relative.startswith("..") else str(beside)


def tail_command(home: Path, count: int) -> str:
    """A shell line that shows the demo's events: its bus file, whatever KAFKA_BOOTSTRAP or a config says."""
    return (f"KAFKA_BOOTSTRAP= SCANBRIDGE_BUS__BACKEND=local "
            f"SCANBRIDGE_BUS__LOCAL_PATH={shlex.quote(str(home / 'bus.sqlite3'))} "
            f"{shlex.quote(scanbridge_command())} tail events --count {count}")
