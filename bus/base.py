"""The bus interface shared by the Kafka and local backends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from schemas.envelope import Envelope


@dataclass(frozen=True, order=True)
class Partition:
    topic: str
    partition: int


@dataclass(frozen=True)
class Delivery:
    """One consumed event and where it sits in the log."""

    partition: Partition
    offset: int
    timestamp_ms: int
    event: Envelope


class Consumer(Protocol):
    """A member of a consumer group. Offsets move only by `commit`."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def poll(self, max_records: int = 100, timeout_s: float = 1.0) -> list[Delivery]: ...

    async def commit(self, offsets: dict[Partition, int]) -> None:
        """Commit, per partition, the offset of the next event to read."""
        ...

    async def seek_to_time(self, when: datetime) -> dict[Partition, int]:
        """Move each assigned partition to its first event at or after `when`; return the positions."""
        ...

    async def end_offsets(self) -> dict[Partition, int]:
        """The offset after the last event of each assigned partition (waits for the assignment)."""
        ...


class Bus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, event: Envelope) -> None:
        """Return only once the event is durable; raise BusUnavailable otherwise."""
        ...

    async def publish_many(self, records: Sequence[tuple[str, Envelope]]) -> None:
        """Publish (topic, event) pairs together — one acknowledgement wait, one commit — and return only
        once every one is durable; raise BusUnavailable otherwise (some may be stored nonetheless:
        publish them again, their ids make the repeat collapse)."""
        ...

    async def ready(self) -> bool:
        """True when the bus answers now."""
        ...

    async def ensure_topics(self, topics: list[str]) -> None: ...

    async def missing_topics(self, topics: list[str]) -> list[str]:
        """Those of `topics` the bus does not have. Creates nothing: read-only commands ask first."""
        ...

    async def group_members(self, group: str) -> list[str]:
        """The live members of consumer group `group` (a name each; [] when none)."""
        ...

    async def committed(self, group: str, topics: list[str]) -> dict[Partition, int]:
        """The offsets `group` committed for `topics` (a partition without a commit is absent)."""
        ...

    def consumer(self, topics: list[str], group: str) -> Consumer: ...
