"""Topics on Kafka: created with the production plan, or only checked (`create_topics = false`)."""

from __future__ import annotations

import logging

import pytest

from bus.errors import TopicsNotReady
from bus.kafka import KafkaBus
from bus.kafkatopics import TopicReport, creation_plan, is_development, replication_warning
from schemas.kafkaconfig import KafkaSettings
from schemas.topics import Topics


async def test_with_create_topics_false_the_missing_and_the_mis_partitioned_topics_are_named(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    await KafkaBus(kafka_settings.model_copy(update={"partitions": 2})).ensure_topics([topics.events])
    checking = KafkaBus(kafka_settings.model_copy(update={"create_topics": False, "partitions": 3}))
    with pytest.raises(TopicsNotReady) as not_ready:
        await checking.ensure_topics([topics.events, topics.artifacts])
    message = str(not_ready.value)
    assert f"topic {topics.artifacts} is missing (create it with 3 partitions)" in message
    assert f"topic {topics.events} has 2 partitions, expected 3" in message
    with pytest.raises(TopicsNotReady, match=f"topic {topics.artifacts} is missing"):
        await checking.ensure_topics([topics.artifacts])  # the check created nothing


async def test_with_create_topics_false_existing_topics_pass_the_check(
    kafka_settings: KafkaSettings, topics: Topics
) -> None:
    await KafkaBus(kafka_settings).ensure_topics(topics.all())
    checking = KafkaBus(kafka_settings.model_copy(update={"create_topics": False}))
    report = await checking.check_topics(topics.all())
    assert report.problems() == []
    assert set(report.replication.values()) == {1}, "one broker: replication factor 1"


async def test_a_single_broker_in_development_logs_no_replication_warning(
    kafka_settings: KafkaSettings, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bus.kafkatopics"):
        await KafkaBus(kafka_settings).ensure_topics([topics.events])
    assert not [r for r in caplog.records if "replication factor 1" in r.getMessage()]


def test_replication_factor_1_outside_development_is_warned_about() -> None:
    report = TopicReport(expected_partitions=6, partitions={"a": 6, "b": 6}, replication={"a": 1, "b": 3})
    remote = KafkaSettings(bootstrap="kafka-0.kafka:9092,kafka-1.kafka:9092")
    warning = replication_warning(report, remote)
    assert warning is not None and warning.startswith("topics a have replication factor 1")
    assert "replication factor 3 and min.insync.replicas 2" in warning
    assert replication_warning(report, KafkaSettings(bootstrap="127.0.0.1:9092,localhost:9093")) is None


def test_development_means_every_bootstrap_host_is_this_machine() -> None:
    assert is_development(KafkaSettings(bootstrap="127.0.0.1:9092, [::1]:9092, localhost:9092"))
    assert not is_development(KafkaSettings(bootstrap="127.0.0.1:9092,10.0.0.5:9092"))
    assert not is_development(KafkaSettings(bootstrap="broker.example.com:9092"))


def test_created_topics_get_replication_3_and_min_insync_2_when_the_cluster_allows() -> None:
    default = KafkaSettings()
    assert creation_plan(default, brokers=5) == (3, 2)
    assert creation_plan(default, brokers=2) == (2, 1)
    assert creation_plan(default, brokers=1) == (1, 1)
    assert creation_plan(KafkaSettings(replication_factor=4, min_insync_replicas=3), brokers=1) == (4, 3)
