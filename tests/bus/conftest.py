"""The behavioural bus suite runs once per backend: every test here takes the `bus` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.base import Bus
from bus.factory import make_bus
from schemas.settings import BusSettings, KafkaSettings
from schemas.topics import Topics


@pytest.fixture(params=["kafka", "local"])
def bus_settings(request: pytest.FixtureRequest, topics: Topics, tmp_path: Path) -> BusSettings:
    """Settings of one backend, with this test's topics (the CLI tests hand them to the command)."""
    if request.param == "kafka":
        kafka: KafkaSettings = request.getfixturevalue("kafka_settings")
        return BusSettings(backend="kafka", kafka=kafka, topics=topics)
    return BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3", topics=topics)


@pytest.fixture
async def bus(bus_settings: BusSettings) -> AsyncIterator[Bus]:
    backend = make_bus(bus_settings)
    await backend.ensure_topics(bus_settings.topics.all())
    await backend.start()
    yield backend
    await backend.close()
