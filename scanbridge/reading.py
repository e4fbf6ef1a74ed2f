"""The bus as read-only commands use it (tail, dlq list, replay --dry-run): they create no topic and no
log file, and they say which topics are not there instead of waiting for them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bus.base import Bus
from bus.factory import make_bus
from schemas.settings import Settings


@contextlib.asynccontextmanager
async def reading_bus(settings: Settings) -> AsyncIterator[Bus]:
    """The configured bus, not started: consumers need no producer, and starting the embedded log would
    create its file."""
    bus = make_bus(settings.bus)
    try:
        yield bus
    finally:
        await bus.close()


async def existing(bus: Bus, topics: list[str]) -> list[str]:
    """Those of `topics` the bus has, in the order given."""
    missing = set(await bus.missing_topics(topics))
    return [t for t in topics if t not in missing]
