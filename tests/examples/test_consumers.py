"""The example consumers in examples/ read scanbridge's events from the project's Kafka broker, each run as
its own process: Python (aiokafka + cloudevents) and TypeScript (kafkajs + cloudevents, compiled by tsc)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bus.kafka import KafkaBus
from schemas.contract import by_type
from schemas.envelope import Envelope
from schemas.jsonschema import OUT as SCHEMAS
from schemas.topics import Topics
from tests.node import ROOT, node, npm_installed

EXAMPLES = ROOT / "examples"
KEY = "itero:4242:3f2b8c1e-5d47-4a8e-9b0c-2e1f6a7d8c90"


def _event(event_type: str, n: int, **extra: Any) -> Envelope:
    return Envelope(id=f"{event_type}-{n}-{uuid.uuid4().hex[:6]}", source="scanbridge/itero/4242",
                    type=event_type, subject=KEY.rsplit(":", 1)[1], partitionkey=KEY,
                    data={**by_type()[event_type].example(), **extra})


async def _published(bus: KafkaBus, topics: Topics) -> list[Envelope]:
    """One order's events as the worker publishes them, one with a field added in a later v1 release."""
    events = [(topics.events, _event("scan.notified", 1)),
              (topics.events, _event("order.updated", 2, insurance={"plan": "gold"})),
              (topics.artifacts, _event("artifact.stored", 3)),
              (topics.artifacts, _event("order.completed", 4))]
    for topic, event in events:
        await bus.publish(topic, event)
    return [event for _, event in events]


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, check=False,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _check(lines: list[dict[str, Any]], published: list[Envelope], topics: Topics) -> None:
    assert len(lines) == len(published)
    in_topic = {topic: [line["id"] for line in lines if line["topic"] == topic]
                for topic in (topics.events, topics.artifacts)}
    assert in_topic == {topics.events: [e.id for e in published[:2]],  # in order: one key, one partition
                        topics.artifacts: [e.id for e in published[2:]]}
    assert all(line["key"] == KEY for line in lines)
    assert all(line["dataschema"].startswith("urn:scanbridge:schema:") for line in lines)
    completed, = (line for line in lines if line["type"] == "order.completed")
    assert completed["ready"] == [by_type()["artifact.stored"].example()["storage_uri"]]
    assert completed["failed"] == ["images: order not ready after 1800 s (404)"]


async def test_the_python_example_reads_and_validates_every_event(kafka_bus: KafkaBus, topics: Topics,
                                                                  kafka_bootstrap: str) -> None:
    published = await _published(kafka_bus, topics)
    command = [sys.executable, "consume.py", "--bootstrap", kafka_bootstrap,
               "--group", f"ex-{uuid.uuid4().hex}", "--topics", f"{topics.events},{topics.artifacts}",
               "--count", str(len(published)), "--schemas", str(SCHEMAS)]
    lines = await asyncio.to_thread(_run, command, EXAMPLES / "python-consumer")
    _check(lines, published, topics)
    assert all(line["valid"] for line in lines), [line["problems"] for line in lines]  # the new field too


@pytest.fixture(scope="session")
def typescript_example() -> Path:
    folder = npm_installed(EXAMPLES / "typescript-consumer")
    subprocess.run([node(), "node_modules/typescript/bin/tsc", "-p", "."], cwd=folder, check=True,
                   capture_output=True, timeout=300)
    return folder / "dist" / "consume.js"


async def test_the_typescript_example_reads_every_event(
    kafka_bus: KafkaBus, topics: Topics, kafka_bootstrap: str, typescript_example: Path
) -> None:
    published = await _published(kafka_bus, topics)
    env = {"KAFKA_BOOTSTRAP": kafka_bootstrap, "TOPICS": f"{topics.events},{topics.artifacts}",
           "GROUP": f"ex-{uuid.uuid4().hex}", "COUNT": str(len(published))}
    folder = typescript_example.parent.parent
    lines = await asyncio.to_thread(_run, [node(), str(typescript_example)], folder, env)
    _check(lines, published, topics)
