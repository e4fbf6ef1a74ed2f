"""`scanbridge state key|migrate|reseal`: a key rotation done from the command line (README, State store)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanbridge.cli import app
from schemas.settings import StateSettings
from state.base import ConnectionKey, Credentials
from state.errors import CorruptState
from state.factory import make_state_store

KEY = ConnectionKey("itero", "c1")


def _run(args: list[str], path: Path, keys: str) -> str:
    env = {"SCANBRIDGE_STATE__PATH": str(path), "SCANBRIDGE_CREDENTIALS_KEYS": keys}
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output.strip()


async def _with_store(path: Path, keys: str, credentials: Credentials | None = None) -> Credentials | None:
    store = make_state_store(StateSettings(path=path), keys=keys.split(","))
    await store.start()
    try:
        if credentials is not None:
            await store.credentials.put(KEY, credentials)
        return await store.credentials.get(KEY)
    finally:
        await store.close()


def test_a_key_rotation_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old = _run(["state", "key"], path, "")
    new = _run(["state", "key"], path, "")
    assert old != new
    assert _run(["state", "migrate"], path, old) == "state store schema is current"
    asyncio.run(_with_store(path, old, Credentials("a", "r")))

    assert _run(["state", "reseal"], path, f"{new},{old}") == "1 rows resealed with the newest key"
    assert asyncio.run(_with_store(path, new)) == Credentials("a", "r", version=1)
    with pytest.raises(CorruptState):  # the old key alone no longer opens it
        asyncio.run(_with_store(path, old))
