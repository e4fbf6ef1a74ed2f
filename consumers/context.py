"""What a vendor handler gets to do its work: publisher, artifact store, clock, HTTP client, settings, and
what the worker and pollers of a process share with every other process (`Shared`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx

from consumers.artifacts.base import ArtifactStore
from consumers.clock import Clock
from consumers.health import HealthBook
from consumers.publish import Publisher
from consumers.tokens import TokenKeepers
from schemas.events import ScanNotified
from schemas.settings import Settings
from state.base import ConnectionKey, StateStore
from state.catalog import ConnectionCatalog


@dataclass(frozen=True)
class Shared:
    """The state store, the connections catalog on it, one token keeper per connection and the health
    book: built once per process by the runtime and passed down (no module-level caches)."""

    state: StateStore
    catalog: ConnectionCatalog
    keepers: TokenKeepers = field(init=False)
    health: HealthBook = field(init=False)
    wakeups: set[ConnectionKey] = field(init=False)  # read by the poller runtime at each tick

    def __post_init__(self) -> None:
        object.__setattr__(self, "keepers", TokenKeepers(self.state))
        object.__setattr__(self, "health", HealthBook(self.state.connections))
        object.__setattr__(self, "wakeups", set())

    def poll_soon(self, key: ConnectionKey) -> None:
        """Ask this process's poller runtime to poll `key` at its next tick, if it holds its lease (a
        3Shape patient was added); another holder sees the change at its next round."""
        self.wakeups.add(key)


@dataclass(frozen=True)
class WorkContext:
    settings: Settings
    publisher: Publisher
    store: ArtifactStore
    clock: Clock
    http: httpx.AsyncClient
    shared: Shared

    @property
    def state(self) -> StateStore:
        return self.shared.state

    @property
    def catalog(self) -> ConnectionCatalog:
        return self.shared.catalog

    @property
    def keepers(self) -> TokenKeepers:
        return self.shared.keepers

    @property
    def health(self) -> HealthBook:
        return self.shared.health


class Handler(Protocol):
    """One vendor's worker logic: turn a `scan.notified` into `order.updated` + stored artifacts."""

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None: ...

    async def close(self) -> None: ...
