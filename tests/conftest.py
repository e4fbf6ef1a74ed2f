"""Shared fixtures: a real Kafka broker, a real PostgreSQL server and a real S3-compatible server per
session (each started when a test first needs it), fresh topics and a fresh PostgreSQL schema per
test, loopback servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from bus.kafka import KafkaBus
from schemas.settings import KafkaSettings
from schemas.topics import Topics
from tests.kafka_broker import kafka_broker
from tests.postgres_server import postgres_server
from tests.s3_server import S3Server, s3_server


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture
def postgres_schema_dsn(postgres_dsn: str) -> Iterator[str]:
    """A DSN whose tables live in a schema of this test's own, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(postgres_dsn, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """The project's S3Proxy, started once per session (or SCANBRIDGE_S3_ENDPOINT)."""
    with s3_server() as server:
        yield server


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
