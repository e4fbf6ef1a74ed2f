"""What a vendor handler gets to do its work: publisher, store, clock, HTTP client, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from consumers.clock import Clock
from consumers.publish import Publisher
from consumers.storage import FolderStore
from schemas.events import ScanNotified
from schemas.settings import Settings


@dataclass(frozen=True)
class WorkContext:
    settings: Settings
    publisher: Publisher
    store: FolderStore
    clock: Clock
    http: httpx.AsyncClient


class Handler(Protocol):
    """One vendor's worker logic: turn a `scan.notified` into `order.updated` + stored artifacts."""

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None: ...

    async def close(self) -> None: ...
