"""The SQLite backend: one private file that needs nothing configured (DESIGN.md §7, §9)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from schemas.settings import StateSettings
from state.base import ConnectionKey, Credentials
from state.factory import make_state_store
from state.sqlite import SqliteDatabase

KEY = ConnectionKey("itero", "c1")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_file_and_its_key_are_private_and_the_key_is_made_once(tmp_path: Path) -> None:
    settings = StateSettings(path=tmp_path / "var" / "state.sqlite3")
    store = make_state_store(settings, environ={})
    await store.start()
    await store.credentials.put(KEY, Credentials("a", "r"))
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm", "state.sqlite3.key"):
        path = tmp_path / "var" / name  # the WAL and its index exist while a connection is open
        assert path.exists() and _mode(path) == 0o600, name
    await store.close()

    again = make_state_store(settings, environ={})  # a restart, or a second process on the host
    await again.start()
    assert await again.credentials.get(KEY) == Credentials("a", "r", version=1)
    await again.close()


async def test_an_existing_file_with_loose_permissions_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    store = make_state_store(StateSettings(path=path), keys=None, environ={})
    await store.start()
    await store.close()
    assert _mode(path) == 0o600


async def test_a_write_cancelled_while_it_begins_leaves_the_connection_usable(tmp_path: Path) -> None:
    """Before: a task cancelled while its BEGIN ran in aiosqlite's thread left that transaction open, and
    every later write of the process failed ("cannot start a transaction within a transaction") — the
    poller runtime cancels a round when its lease is lost or its connection removed."""
    db = SqliteDatabase(tmp_path / "state.sqlite3")
    await db.open()
    try:
        for _ in range(5):
            async def write() -> None:
                async with db.transaction() as tx:
                    await tx.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

            task = asyncio.create_task(write())
            await asyncio.sleep(0)  # the task is now waiting on its BEGIN
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with db.transaction() as tx:
                await tx.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    finally:
        await db.close()
