"""Read events back from the bus in tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from bus.base import Bus, Partition
from schemas.envelope import Envelope


async def collect(bus: Bus, topics: list[str], until: Callable[[list[Envelope]], bool],
                  timeout: float = 30.0) -> list[Envelope]:
    """Read from the start of `topics` with a fresh group until `until(events)` holds."""
    consumer = bus.consumer(topics, f"test-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    events: list[Envelope] = []
    try:
        async with asyncio.timeout(timeout):
            while not until(events):
                events.extend(d.event for d in await consumer.poll(timeout_s=0.3))
    finally:
        await consumer.close()
    return events


async def settle(bus: Bus, topics: list[str], quiet_s: float = 1.5) -> list[Envelope]:
    """Everything on `topics` once nothing new arrived for `quiet_s` seconds."""
    consumer = bus.consumer(topics, f"test-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    events: list[Envelope] = []
    try:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while loop.time() - last < quiet_s:
            batch = await consumer.poll(timeout_s=0.3)
            if batch:
                events.extend(d.event for d in batch)
                last = loop.time()
    finally:
        await consumer.close()
    return events


def of_type(events: list[Envelope], event_type: str) -> list[Envelope]:
    return [e for e in events if e.type == event_type]


async def read_to_end(bus: Bus, topics: list[str], timeout: float = 30.0) -> list[Envelope]:
    """Everything on `topics` up to their end offsets as they are now (no quiet period to wait out)."""
    consumer = bus.consumer(topics, f"test-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    events: list[Envelope] = []
    try:
        ends = {p: end for p, end in (await consumer.end_offsets()).items() if end > 0}
        reached: dict[Partition, int] = {}
        async with asyncio.timeout(timeout):
            while any(reached.get(p, 0) < end for p, end in ends.items()):
                for delivery in await consumer.poll(timeout_s=0.3):
                    events.append(delivery.event)
                    reached[delivery.partition] = delivery.offset + 1
    finally:
        await consumer.close()
    return events
