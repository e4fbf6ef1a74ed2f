"""The state a test's components share, as one process of scanbridge would (`consumers.context.Shared`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from cryptography.fernet import Fernet

from consumers.clock import Clock, RealClock
from consumers.context import Shared
from consumers.polling import Poller, PollerRuntime
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


def runtime_of(shared: Shared, *pollers: Poller, ttl_s: float = 2.0,
               clock: Clock | None = None) -> PollerRuntime:
    """The poller runtime of one process driving exactly `pollers` (their connections need not be in the
    catalog); `await runtime.run(stop)` polls them under their leases."""
    by_key = {poller.key: poller for poller in pollers}
    return PollerRuntime(shared.state, lambda: [(key, key) for key in by_key], lambda: 0,
                         lambda key, _connection: by_key.get(key), clock=clock or RealClock(), ttl_s=ttl_s,
                         wakeups=shared.wakeups, health=shared.health)


async def rounds_done(runtime: PollerRuntime) -> None:
    """Let the rounds the runtime's last tick started run to their end."""
    for slot in runtime.slots.values():
        if slot.task is not None:
            await asyncio.wait({slot.task})
