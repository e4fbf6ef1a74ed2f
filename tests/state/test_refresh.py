"""Token refresh is single-flight across processes (DESIGN.md §7 Ownership): several processes, each with
many tasks, find the same token expired; the vendor's refresh is called exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from pydantic import SecretStr

from schemas.settings import StateSettings
from state.base import Credentials
from state.store import SqlStateStore
from tests.state.refresher import KEY

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
TASKS = 10


def _settings_json(settings: StateSettings) -> str:
    """The settings as the child processes read them, the DSN's password included."""
    data = settings.model_dump(mode="json")
    data["dsn"] = settings.dsn.get_secret_value() if isinstance(settings.dsn, SecretStr) else None
    return json.dumps(data)


async def test_processes_refreshing_at_once_call_the_vendor_once(
    state_store: SqlStateStore, state_settings: StateSettings, state_key: str, tmp_path: Path
) -> None:
    await state_store.credentials.put(KEY, Credentials("stale", "refresh-1"))
    env = {**os.environ, "SCANBRIDGE_CREDENTIALS_KEYS": state_key}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.state.refresher", _settings_json(state_settings), str(tmp_path),
            str(TASKS), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    try:
        async with asyncio.timeout(60):
            while len(await asyncio.to_thread(lambda: list(tmp_path.glob("ready-*")))) < PROCESSES:
                if any(p.returncode is not None for p in procs):
                    break
                await asyncio.sleep(0.02)
        (tmp_path / "go").touch()
        outputs = [await p.communicate() for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * PROCESSES, [err.decode()[-2000:] for _, err in outputs]
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].endswith(" refresh-1")
    tokens = [line for out, _ in outputs for line in out.decode().split()]
    assert tokens == ["fresh"] * PROCESSES * TASKS
    assert await state_store.credentials.get(KEY) == Credentials("fresh", "refresh-2", version=2)
