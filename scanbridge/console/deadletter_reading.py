"""The dead letters as the console shows them: read from the dead-letter topic (as `scanbridge dlq list`
does), none while the topic does not exist yet."""

from __future__ import annotations

from bus.base import Bus
from bus.deadletter import Entry, read_entries
from scanbridge.commands.dlq import _ordered
from scanbridge.reading import existing


async def dead_letters(bus: Bus | None, topic: str) -> list[Entry]:
    if bus is None or not await existing(bus, [topic]):
        return []
    return _ordered(await read_entries(bus, topic))
