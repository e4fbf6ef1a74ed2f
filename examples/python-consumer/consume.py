"""A downstream consumer of scanbridge events in Python: aiokafka reads the topics, the CloudEvents SDK
decodes each record (Kafka binary mode: `ce_*` headers, JSON value, key = partitionkey).

It prints one JSON line per event and, for `order.completed`, which artifacts are ready to import. With
`--schemas DIR` (scanbridge's `schemas/json/`) it also validates each event's `data` against the schema its
`dataschema` names, as a consumer that validates would; those schemas are open, so new fields in later v1
releases do not break it. Needs: aiokafka, cloudevents (and jsonschema for --schemas).

    python consume.py --bootstrap localhost:9092 --group lab-import [--count N] [--schemas schemas/json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

DEFAULT_TOPICS = "scanbridge.events.v1,scanbridge.artifacts.v1"
SCHEMA_PREFIX = "urn:scanbridge:schema:"  # dataschema = urn:scanbridge:schema:<type>:v1


def decode(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> CloudEvent:
    return from_binary(KafkaMessage(headers=dict(headers), key=key, value=value), JSONFormat(), CloudEvent)


class Schemas:
    """The published schemas by `dataschema`, loaded once each (jsonschema is only needed here)."""

    def __init__(self, folder: Path) -> None:
        from jsonschema import Draft202012Validator

        self._validators = {}
        for path in folder.glob("*.schema.json"):
            schema = json.loads(path.read_text())
            self._validators[schema["$id"]] = Draft202012Validator(schema)

    def problems(self, event: CloudEvent) -> list[str]:
        validator = self._validators.get(event.get_dataschema() or "")
        if validator is None:
            return [f"no schema for {event.get_dataschema()!r}"]
        return [error.message for error in validator.iter_errors(event.get_data())]


def describe(topic: str, partition: int, offset: int, event: CloudEvent) -> dict[str, Any]:
    # Read the fields you know and ignore the rest: v1 schemas only grow (README "Events").
    attributes = event.get_attributes()
    line: dict[str, Any] = {
        "topic": topic, "partition": partition, "offset": offset, "id": event.get_id(),
        "type": event.get_type(), "subject": event.get_subject(), "key": attributes.get("partitionkey"),
        "dataschema": event.get_dataschema(),
    }
    data = event.get_data()
    if event.get_type() == "order.completed" and isinstance(data, dict):
        artifacts = data.get("artifacts", [])
        line["ready"] = [a.get("storage_uri") for a in artifacts if a.get("outcome") == "stored"]
        line["failed"] = [f"{a.get('kind')}: {a.get('reason')}" for a in artifacts
                          if a.get("outcome") == "failed"]
    return line


async def consume(args: argparse.Namespace) -> None:
    schemas = Schemas(Path(args.schemas)) if args.schemas else None
    consumer = AIOKafkaConsumer(*args.topics.split(","), bootstrap_servers=args.bootstrap,
                                group_id=args.group, auto_offset_reset="earliest", enable_auto_commit=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    seen = 0
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            done: dict[TopicPartition, int] = {}
            for partition, records in batches.items():
                for record in records:
                    event = decode(record.key, record.value or b"", list(record.headers))
                    line = describe(record.topic, record.partition, record.offset, event)
                    if schemas is not None:
                        line["valid"] = not (problems := schemas.problems(event))
                        line["problems"] = problems
                    print(json.dumps(line), flush=True)
                    done[partition] = record.offset + 1
                    seen += 1
                    if args.count and seen >= args.count:
                        stop.set()
                        break
                if stop.is_set():
                    break
            if done:
                await consumer.commit(done)  # only what was handled (here: printed)
    finally:
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topics", default=DEFAULT_TOPICS, help="comma-separated")
    parser.add_argument("--group", default="lab-example-python")
    parser.add_argument("--count", type=int, default=0, help="stop after this many events (0: run on)")
    parser.add_argument("--schemas", help="folder of scanbridge's published schemas: validate each event")
    asyncio.run(consume(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
