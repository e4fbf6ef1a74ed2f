"""Kafka-only behaviour: what a member does when a rebalance takes partitions away."""

from __future__ import annotations

import asyncio
import uuid

from bus.kafka import KafkaBus
from schemas.topics import Topics


async def test_a_commit_after_a_rebalance_skips_the_partitions_taken_away(
    kafka_bus: KafkaBus, topics: Topics
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = kafka_bus.consumer([topics.events], group)
    await first.start()
    second = kafka_bus.consumer([topics.events], group)
    try:
        before = await first.end_offsets()
        assert len(before) == 3
        await second.start()
        async with asyncio.timeout(60):
            while len(await first.end_offsets()) == len(before):
                await first.poll(timeout_s=0.2)
        await first.commit(dict.fromkeys(before, 0))  # names partitions `first` no longer holds
    finally:
        await second.close()
        await first.close()
