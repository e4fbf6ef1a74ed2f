"""Track in-flight deliveries per partition so a commit never passes unfinished work (STYLE.md §6)."""

from __future__ import annotations

from bus.base import Partition


class OffsetTracker:
    def __init__(self) -> None:
        self._in_flight: dict[Partition, set[int]] = {}
        self._next: dict[Partition, int] = {}
        self._committed: dict[Partition, int] = {}

    def started(self, partition: Partition, offset: int) -> None:
        self._in_flight.setdefault(partition, set()).add(offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def finished(self, partition: Partition, offset: int) -> None:
        self._in_flight[partition].discard(offset)

    @property
    def busy(self) -> int:
        return sum(len(v) for v in self._in_flight.values())

    def committable(self) -> dict[Partition, int]:
        """Offsets (next to read) that moved since the last call, below every unfinished one."""
        out: dict[Partition, int] = {}
        for partition, nxt in self._next.items():
            pending = self._in_flight.get(partition)
            safe = min(pending) if pending else nxt
            if safe > self._committed.get(partition, -1):
                out[partition] = safe
        return out

    def committed(self, offsets: dict[Partition, int]) -> None:
        self._committed.update(offsets)
