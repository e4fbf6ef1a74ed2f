"""Shared fixtures: a real Kafka broker per session, fresh topics per test, loopback servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from bus.kafka import KafkaBus
from schemas.settings import KafkaSettings
from schemas.topics import Topics
from tests.kafka_broker import kafka_broker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture
def topics() -> Topics:
    """Each test gets its own topics, so tests never see each other's events."""
    suffix = uuid.uuid4().hex[:10]
    return Topics(
        inbound=f"t-{suffix}.inbound",
        events=f"t-{suffix}.events",
        artifacts=f"t-{suffix}.artifacts",
        deadletter=f"t-{suffix}.deadletter",
        commands=f"t-{suffix}.commands",
    )


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap=kafka_bootstrap, partitions=3, ack_timeout_s=10.0, linger_ms=0)


@pytest.fixture
async def kafka_bus(kafka_settings: KafkaSettings, topics: Topics) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_settings)
    await bus.ensure_topics(topics.all())
    await bus.start()
    yield bus
    await bus.close()
