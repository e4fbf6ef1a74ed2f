"""`scanbridge run` serves the console on its own port, bound to console.host, once someone can sign in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from scanbridge.runtime import run
from schemas.settings import BusSettings, ReceiverSettings, Settings, StorageSettings
from tests.scanbridge.console.conftest import console_settings
from tests.tcpgate import free_port


async def _until_answers(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        for _ in range(3000):
            try:
                return await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    raise AssertionError(f"{url} never answered")


async def test_run_serves_the_console_beside_the_receiver(tmp_path: Path) -> None:
    console_port, receiver_port = free_port(), free_port()
    settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                        receiver=ReceiverSettings(port=receiver_port), state_dir=tmp_path / "state",
                        storage=StorageSettings(root=tmp_path / "artifacts"),
                        console=console_settings(port=console_port))
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, receiver=True, worker=True, stop=stop))
    try:
        signin = await _until_answers(f"http://127.0.0.1:{console_port}/signin")
        assert signin.status_code == 200 and 'name="csrf"' in signin.text
        receiver = await _until_answers(f"http://127.0.0.1:{receiver_port}/healthz")
        assert receiver.status_code == 200
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
