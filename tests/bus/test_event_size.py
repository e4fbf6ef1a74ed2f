"""Kafka refusing an event for its size is a permanent `EventTooLarge`, not `BusUnavailable` (issue 10
item 9): the worker dead-letters it instead of retrying every 5 s for ever."""

from __future__ import annotations

import uuid

import pytest

from bus.errors import EventTooLarge
from bus.kafka import KafkaBus
from schemas.envelope import Envelope
from schemas.settings import KafkaSettings
from schemas.topics import Topics
from tests.kafka_broker import create_limited_topic


def _event(padding: int) -> Envelope:
    return Envelope(id=str(uuid.uuid4()), source="scanbridge/test/1", type="order.updated",
                    partitionkey="itero:clinic-1:rx", data={"pad": "x" * padding})


async def test_an_event_over_the_topics_max_message_bytes_is_event_too_large_and_the_next_goes_through(
    kafka_settings: KafkaSettings,
) -> None:
    """Before: the broker's MESSAGE_TOO_LARGE became BusUnavailable ("kafka did not acknowledge")."""
    topic = f"t-{uuid.uuid4().hex[:10]}.small"
    await create_limited_topic(kafka_settings.bootstrap, topic, 20_000)
    # gzip would shrink the padding below the limit: send it as it is
    bus = KafkaBus(kafka_settings.model_copy(update={"compression": None}))
    await bus.start()
    try:
        with pytest.raises(EventTooLarge, match="too large: MessageSizeTooLargeError"):
            await bus.publish(topic, _event(100_000))
        await bus.publish(topic, _event(100))  # the producer is fine: the next event is acknowledged
    finally:
        await bus.close()


async def test_an_event_over_the_producers_request_size_is_event_too_large(kafka_bus: KafkaBus,
                                                                            topics: Topics) -> None:
    with pytest.raises(EventTooLarge, match="MessageSizeTooLargeError"):
        await kafka_bus.publish(topics.events, _event(2 * 1024 * 1024))
