"""The state a test's components share, as one process of scanbridge would (`consumers.context.Shared`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from consumers.context import Shared
from scanbridge.shared import consumer_state
from schemas.settings import Settings, StateSettings
from state.factory import make_state_store
from state.store import SqlStateStore


@asynccontextmanager
async def shared_state(settings: Settings) -> AsyncIterator[Shared]:
    """The store of `settings` (SQLite in the test's `state_dir` unless set otherwise), its catalog seeded
    with the settings' connections; closed at the end of the block."""
    async with consumer_state(settings, reload=False) as opened:
        yield opened


@asynccontextmanager
async def state_store(folder: Path) -> AsyncIterator[SqlStateStore]:
    """A SQLite state store of its own in `folder` (credentials key made for it), open for the block."""
    key = Fernet.generate_key().decode()
    store = make_state_store(StateSettings(path=folder / "state.sqlite3"), keys=[key])
    await store.start()
    try:
        yield store
    finally:
        await store.close()
