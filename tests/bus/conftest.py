"""The behavioural bus suite runs once per backend: every test here takes the `bus` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bus.base import Bus
from bus.kafka import KafkaBus
from schemas.settings import KafkaSettings
from schemas.topics import Topics


@pytest.fixture(params=["kafka"])
async def bus(request: pytest.FixtureRequest, topics: Topics) -> AsyncIterator[Bus]:
    backend: Bus
    if request.param == "kafka":
        backend = KafkaBus(request.getfixturevalue("kafka_settings"))
    else:  # pragma: no cover - other backends are added here
        raise AssertionError(request.param)
    await backend.ensure_topics(topics.all())
    await backend.start()
    yield backend
    await backend.close()


__all__ = ["KafkaSettings"]
