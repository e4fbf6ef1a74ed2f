"""What a vendor handler gets to do its work: publisher, store, clock, HTTP client, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from consumers.artifacts.base import ArtifactStore
from consumers.clock import Clock
from consumers.publish import Publisher
from schemas.events import ScanNotified
from schemas.settings import Settings


@dataclass(frozen=True)
class WorkContext:
    settings: Settings
    publisher: Publisher
    store: ArtifactStore
    clock: Clock
    http: httpx.AsyncClient


class Handler(Protocol):
    """One vendor's worker logic: turn a `scan.notified` into `order.updated` + stored artifacts."""

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None: ...

    async def close(self) -> None: ...
