"""The state a process shares with every other process and host, opened with the registered vendors'
connection models and the TOML's connections as seeds (DESIGN.md §7, §11)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from consumers.context import Shared
from scanbridge import vendors as registry
from scanbridge.plugin import VendorPlugin, configured, connection_models
from schemas.settings import Settings
from state.shared import SharedState, open_shared


def open_state(settings: Settings, *, reload: bool = True,
               plugins: Sequence[VendorPlugin] | None = None) -> AbstractAsyncContextManager[SharedState]:
    """`open_shared` for the registered vendors (or `plugins`)."""
    plugins = registry.VENDORS if plugins is None else plugins
    return open_shared(settings, connection_models(plugins), configured(plugins, settings), reload=reload)


@asynccontextmanager
async def consumer_state(settings: Settings, given: Shared | None = None, *,
                         reload: bool = True) -> AsyncIterator[Shared]:
    """What the worker and pollers of this process share: `given`, else the state opened for the block."""
    if given is not None:
        yield given
        return
    async with open_state(settings, reload=reload) as opened:
        yield Shared(opened.store, opened.catalog)
