"""Kafka-only behaviour: what a member does when a rebalance takes partitions away, or none come."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bus.errors import NotAssigned
from bus.kafka import KafkaBus
from schemas.settings import KafkaSettings
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


async def test_a_member_that_gets_no_partition_gives_up_at_its_deadline_and_says_why(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    """One partition, two members: the round-robin assignor gives it to the first member id in order,
    and member ids start with the client id, so "a-holder" holds it and "b-late" gets nothing."""
    single = kafka_settings.model_copy(update={"partitions": 1})
    topic = f"{topics.events}.single"
    await KafkaBus(single).ensure_topics([topic])
    group = f"g-{uuid.uuid4().hex[:8]}"
    holder = KafkaBus(single.model_copy(update={"client_id": "a-holder"})).consumer([topic], group)
    late = KafkaBus(single.model_copy(update={"client_id": "b-late", "assignment_timeout_s": 3.0})
                    ).consumer([topic], group)
    await holder.start()
    try:
        assert len(await holder.end_offsets()) == 1
        await late.start()
        with pytest.raises(NotAssigned, match=rf"{group}.*{topic}.*other members of the group hold"):
            await late.end_offsets()
    finally:
        await late.close()
        await holder.close()
