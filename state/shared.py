"""What one process shares with every other process and host: the state store and the connections
catalog on it (DESIGN.md §7), opened once per process and passed down.

A store that does not answer at start does not stop the process: the catalog works from the TOML's
connections, store calls raise `StateUnavailable` (workers retry, pollers hold no lease), and the store is
tried again every `state.reload_s` until it answers; then the TOML seeds it and the catalog reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas import connections
from schemas.settings import Settings
from state.base import StateStore
from state.catalog import ConnectionCatalog
from state.errors import StateUnavailable
from state.factory import make_state_store

log = logging.getLogger(__name__)


@dataclass
class SharedState:
    store: StateStore
    catalog: ConnectionCatalog
    started: asyncio.Event  # set once the store answered (and was seeded)


class SharedLink:
    """The shared state once it is open (routes are built before it is): call it to get it."""

    def __init__(self, shared: SharedState | None = None) -> None:
        self.current = shared

    def __call__(self) -> SharedState:
        if self.current is None:
            raise StateUnavailable("the state store is not open yet")
        return self.current


Models = Mapping[str, type[BaseModel]]  # vendor → its connection model (the registered vendors')
Seeds = Iterable[tuple[str, Any]]  # (vendor, connection) of the TOML


def make_catalog(settings: Settings, store: StateStore | None, models: Models,
                 seeds: Seeds) -> ConnectionCatalog:
    def parse(vendor: str, data: Mapping[str, Any]) -> Any:
        return connections.parse(models, vendor, data)

    return ConnectionCatalog(None if store is None else store.connections, seeds, parse=parse,
                             reveal=connections.revealed, reload_s=settings.state.reload_s)


async def _start(store: StateStore, catalog: ConnectionCatalog, started: asyncio.Event) -> None:
    await store.start()
    await catalog.seed()
    await catalog.load()
    started.set()


async def _keep(store: StateStore, catalog: ConnectionCatalog, started: asyncio.Event,
                stop: asyncio.Event) -> None:
    while not started.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), catalog.reload_s)
        if stop.is_set():
            return
        try:
            await _start(store, catalog, started)
            log.warning("state store reachable: connections seeded and loaded")
        except StateUnavailable as exc:
            catalog.note_unavailable(exc)
    await catalog.run(stop)


@contextlib.asynccontextmanager
async def open_shared(settings: Settings, models: Models, seeds: Seeds, *,
                      reload: bool = True) -> AsyncIterator[SharedState]:
    """The store (migrated), the TOML's connections (`seeds`) seeded into it and the catalog loaded; with
    `reload`, the catalog follows the store's changes (and a store down at start is retried) until the
    block ends."""
    store = make_state_store(settings.state)
    catalog = make_catalog(settings, store, models, seeds)
    shared = SharedState(store, catalog, asyncio.Event())
    try:
        await _start(store, catalog, shared.started)
    except StateUnavailable as exc:
        catalog.note_unavailable(exc)
    stop = asyncio.Event()
    keeper = asyncio.create_task(_keep(store, catalog, shared.started, stop)) if reload else None
    try:
        yield shared
    finally:
        stop.set()
        if keeper is not None:
            await keeper
        await store.close()
