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
from state.base import StateStore
from state.catalog import ConnectionCatalog


@dataclass(frozen=True)
class Shared:
    """The state store, the connections catalog on it, one token keeper per connection and the health
    book: built once per process by the runtime and passed down (no module-level caches)."""

    state: StateStore
    catalog: ConnectionCatalog
    keepers: TokenKeepers = field(init=False)
    health: HealthBook = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keepers", TokenKeepers(self.state))
        object.__setattr__(self, "health", HealthBook(self.state.connections))


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
