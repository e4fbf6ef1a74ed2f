"""Kafka refusing an event for its size is a permanent `EventTooLarge`, not `BusUnavailable` (issue 10
item 9): the worker dead-letters it instead of retrying every 5 s for ever, and the receiver's spool
sets it aside instead of holding every later event behind it."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from bus.deadletter import DeadLetter
from bus.errors import EventTooLarge
from bus.kafka import KafkaBus
from bus.local import LocalBus
from bus.spool import SpoolingBus
from schemas.envelope import Envelope
from schemas.settings import KafkaSettings
from schemas.topics import Topics
from tests.events import collect
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


async def test_a_spooled_event_the_broker_refuses_for_its_size_is_kept_aside_and_the_rest_goes_on(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Before: the forwarder failed on it at every retry and every event spooled after it stayed
    in the spool for ever (new publishes too, queued behind it)."""
    topic = f"t-{uuid.uuid4().hex[:10]}.small"
    await create_limited_topic(kafka_settings.bootstrap, topic, 20_000)
    dead = KafkaSettings(bootstrap="127.0.0.1:1", ack_timeout_s=1.0, compression=None)
    huge, after, other = _event(100_000), _event(100), _event(100)
    other = other.model_copy(update={"partitionkey": "itero:clinic-1:other"})
    down = SpoolingBus(KafkaBus(dead), LocalBus(tmp_path / "spool.db"))
    await down.start()
    try:
        await down.ensure_topics([topic])
        for event in (huge, after, other):
            await down.publish(topic, event)
        assert await down.pending() == 3
    finally:
        await down.close()
    up = SpoolingBus(KafkaBus(kafka_settings.model_copy(update={"compression": None})),
                     LocalBus(tmp_path / "spool.db"), retry_s=0.1)
    await up.start()
    try:
        async with asyncio.timeout(60):
            while await up.pending():
                await asyncio.sleep(0.05)
        assert up.counters["refused"] == 1 and up.counters["forwarded"] == 3
        got = await collect(up, [topic], lambda ev: len(ev) >= 2)
    finally:
        await up.close()
    assert {e.id for e in got} == {after.id, other.id}
    (line,) = up.refused_path.read_text().splitlines()
    letter = DeadLetter.model_validate(json.loads(line))
    assert letter.original.id == huge.id and letter.original.topic == topic
    assert "too large" in letter.reason and letter.for_retry().data == huge.data
    assert up.refused_path.stat().st_mode & 0o777 == 0o600
