"""The topics scanbridge needs on Kafka: created at start, or (`create_topics = false`) only checked.

Production defaults: replication factor 3 and `min.insync.replicas` 2 (with acks=all a write then
survives the loss of one broker and stops, rather than silently losing durability, at two). A single
broker gets replication factor 1, and a warning at start unless every bootstrap host is this machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bus.errors import TopicsNotReady
from schemas.kafkaconfig import PRODUCTION_MIN_INSYNC, PRODUCTION_REPLICATION, KafkaSettings

log = logging.getLogger(__name__)

UNKNOWN_TOPIC = 3  # Kafka error code UNKNOWN_TOPIC_OR_PARTITION


@dataclass
class TopicReport:
    """What the cluster has of the topics asked for."""

    expected_partitions: int
    missing: list[str] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)  # topic → partition count
    replication: dict[str, int] = field(default_factory=dict)  # topic → smallest replica count

    def wrong_partitions(self) -> dict[str, int]:
        return {t: n for t, n in self.partitions.items() if n != self.expected_partitions}

    def problems(self) -> list[str]:
        n = self.expected_partitions
        out = [f"topic {t} is missing (create it with {n} partitions)" for t in self.missing]
        out += [f"topic {t} has {n} partitions, expected {self.expected_partitions} (bus.kafka.partitions)"
                for t, n in sorted(self.wrong_partitions().items())]
        return out


def is_development(settings: KafkaSettings) -> bool:
    """Every bootstrap host is this machine: a developer's broker, where replication factor 1 is normal."""
    for host in settings.hosts():
        name = host.rpartition(":")[0].strip("[]") or host
        if name == "localhost":
            continue
        try:
            if not ipaddress.ip_address(name).is_loopback:
                return False
        except ValueError:
            return False
    return True


def replication_warning(report: TopicReport, settings: KafkaSettings) -> str | None:
    single = sorted(t for t, rf in report.replication.items() if rf < 2)
    if not single or is_development(settings):
        return None
    return (f"topics {', '.join(single)} have replication factor 1: losing that broker loses events; "
            f"production wants replication factor {PRODUCTION_REPLICATION} and min.insync.replicas "
            f"{PRODUCTION_MIN_INSYNC}")


def creation_plan(settings: KafkaSettings, brokers: int) -> tuple[int, int]:
    """Replication factor and min.insync.replicas for topics created on a cluster of `brokers`."""
    rf = settings.replication_factor or max(1, min(PRODUCTION_REPLICATION, brokers))
    isr = settings.min_insync_replicas or max(1, min(PRODUCTION_MIN_INSYNC, rf - 1))
    return rf, isr


async def describe(admin: AIOKafkaAdminClient, topics: list[str], partitions: int) -> TopicReport:
    report = TopicReport(expected_partitions=partitions)
    for entry in await admin.describe_topics(topics):
        name = entry["topic"]
        if entry["error_code"] == UNKNOWN_TOPIC or not entry["partitions"]:
            report.missing.append(name)
            continue
        report.partitions[name] = len(entry["partitions"])
        report.replication[name] = min(len(p["replicas"]) for p in entry["partitions"])
    return report


async def _until_listed(admin: AIOKafkaAdminClient, topics: set[str], timeout_s: float) -> None:
    """Metadata catches up with a creation a moment later; return once every topic is listed."""
    async with asyncio.timeout(timeout_s):
        while not topics <= set(await admin.list_topics()):
            await asyncio.sleep(0.05)


async def prepare(admin: AIOKafkaAdminClient, settings: KafkaSettings, topics: list[str]) -> TopicReport:
    """Create what is missing (or, with create_topics false, raise TopicsNotReady naming it), then warn."""
    report = await describe(admin, topics, settings.partitions)
    if report.missing and settings.create_topics:
        rf, isr = creation_plan(settings, len((await admin.describe_cluster())["brokers"]))
        new = [NewTopic(t, settings.partitions, rf, topic_configs={"min.insync.replicas": str(isr)})
               for t in report.missing]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass  # another process created them meanwhile
        log.info("created topics %s (%d partitions, replication factor %d, min.insync.replicas %d)",
                 ", ".join(report.missing), settings.partitions, rf, isr)
        await _until_listed(admin, set(report.missing), settings.ack_timeout_s)
        # What was just created (a describe now could still miss it: metadata spreads asynchronously).
        report.partitions.update(dict.fromkeys(report.missing, settings.partitions))
        report.replication.update(dict.fromkeys(report.missing, rf))
        report.missing = []
    if not settings.create_topics and (report.missing or report.wrong_partitions()):
        raise TopicsNotReady("bus.kafka.create_topics is false and the topics are not as expected: "
                             + "; ".join(report.problems()))
    for problem in report.problems():
        log.warning("%s", problem)
    if warning := replication_warning(report, settings):
        log.warning("%s", warning)
    return report
