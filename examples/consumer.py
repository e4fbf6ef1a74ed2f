"""A downstream service that fetches scanbridge's artifacts from another host (issue 13 item 6).

It reads `artifact.stored` from Kafka (aiokafka; the CloudEvents SDK decodes Kafka binary mode), then
fetches each artifact's bytes the two ways scanbridge offers and checks them against the event's
`sha256` and `size`:

- through S3, with this service's own credentials (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` or any
  other place the AWS SDK looks), from the event's `bucket` and `key`;
- through the artifact route (`scanbridge artifacts serve`), `GET {route}/artifacts/{artifact_id}` with a
  subscriber's bearer token (`SCANBRIDGE_ARTIFACT_TOKEN`); for S3 the route answers 307 to a short-lived
  pre-signed URL, which httpx follows without sending the token on to the store.

It never reads the worker's disk. One JSON line per artifact; a record's offset is committed only after
its artifact was fetched and verified (a mismatch stops the service, exit status 1, nothing committed).
Needs: aiokafka, cloudevents, httpx, aiobotocore.

    AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… SCANBRIDGE_ARTIFACT_TOKEN=… python consumer.py \
        --bootstrap localhost:9092 --group lab-import --s3-endpoint http://minio:9000 \
        --route http://scanbridge:8703 [--out downloads/] [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiokafka import AIOKafkaConsumer, TopicPartition
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

ARTIFACTS_TOPIC = "scanbridge.artifacts.v1"
STORED = "artifact.stored"
CHUNK = 1024 * 1024


class Mismatch(Exception):
    """The bytes fetched are not the bytes scanbridge announced."""


def decode(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> CloudEvent:
    return from_binary(KafkaMessage(headers=dict(headers), key=key, value=value), JSONFormat(), CloudEvent)


class Sink:
    """Hashes a stream while it (optionally) writes it to a new file under --out."""

    def __init__(self, out: Path | None, name: str) -> None:
        self.digest = hashlib.sha256()
        self.size = 0
        self.path = out / name if out is not None else None
        self._handle = self.path.open("wb") if self.path is not None else None

    async def drain(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in chunks:
                self.digest.update(chunk)
                self.size += len(chunk)
                if self._handle is not None:
                    self._handle.write(chunk)
        finally:
            if self._handle is not None:
                self._handle.close()

    def check(self, data: dict[str, Any], via: str) -> None:
        if self.digest.hexdigest() != data["sha256"] or self.size != data["size"]:
            if self.path is not None:
                self.path.unlink(missing_ok=True)
            raise Mismatch(f"{via}: artifact {data.get('artifact_id')} is not what was announced")


async def via_s3(client: Any, data: dict[str, Any], out: Path | None) -> str:
    answer = await client.get_object(Bucket=data["bucket"], Key=data["key"])

    async def chunks() -> AsyncIterator[bytes]:
        async with answer["Body"] as body:
            while chunk := await body.read(CHUNK):
                yield chunk

    sink = Sink(out, f"{data['artifact_id']}.s3-{Path(data['file_name']).name}")
    await sink.drain(chunks())
    sink.check(data, "s3")
    return "verified"


async def via_route(http: httpx.AsyncClient, route: str, token: str, data: dict[str, Any],
                    out: Path | None) -> str:
    url = f"{route.rstrip('/')}/artifacts/{data['artifact_id']}"
    # follow_redirects: for S3 the route answers 307 to a pre-signed URL; httpx drops the
    # Authorization header on a redirect to another origin, so the token never reaches the store.
    async with http.stream("GET", url, headers={"authorization": f"Bearer {token}"},
                           follow_redirects=True) as answer:
        if answer.status_code != 200:
            raise Mismatch(f"route: artifact {data['artifact_id']} answered {answer.status_code}")
        sink = Sink(out, f"{data['artifact_id']}.route-{Path(data['file_name']).name}")
        await sink.drain(answer.aiter_bytes(CHUNK))
    sink.check(data, "route")
    return "verified"


async def fetch(args: argparse.Namespace, s3: Any, http: httpx.AsyncClient, data: dict[str, Any]
                ) -> dict[str, Any]:
    line: dict[str, Any] = {"artifact_id": data.get("artifact_id"), "kind": data.get("kind"),
                            "sha256": data.get("sha256"), "size": data.get("size"),
                            "storage_uri": data.get("storage_uri")}
    out = Path(args.out) if args.out else None
    if s3 is not None and data.get("bucket") and data.get("key"):
        line["s3"] = await via_s3(s3, data, out)
    if args.route and data.get("artifact_id"):
        line["route"] = await via_route(http, args.route, os.environ["SCANBRIDGE_ARTIFACT_TOKEN"], data, out)
    return line


async def consume(args: argparse.Namespace, s3: Any) -> int:
    consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.out:
        await asyncio.to_thread(Path(args.out).mkdir, parents=True, exist_ok=True)
    seen = 0
    timeout = httpx.Timeout(30.0, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout) as http:
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for partition, records in batches.items():
                    for record in records:
                        event = decode(record.key, record.value or b"", list(record.headers))
                        data = event.get_data()
                        if event.get_type() == STORED and isinstance(data, dict):
                            try:
                                line = await fetch(args, s3, http, data)
                            except Mismatch as exc:
                                print(json.dumps({"error": str(exc)}), flush=True)
                                return 1
                            print(json.dumps(line), flush=True)
                            seen += 1
                        # only what was handled: fetched and verified (or not an artifact.stored)
                        await consumer.commit({TopicPartition(partition.topic, partition.partition):
                                               record.offset + 1})
                        if args.count and seen >= args.count:
                            return 0
        finally:
            await consumer.stop()
    return 0


async def run(args: argparse.Namespace) -> int:
    if not args.s3_endpoint and not args.s3_region:
        return await consume(args, None)
    # Checksum headers only when required: several S3-compatible stores refuse the newer ones.
    config = AioConfig(s3={"addressing_style": "path"} if args.s3_endpoint else {},
                       request_checksum_calculation="when_required",
                       response_checksum_validation="when_required")
    async with get_session().create_client("s3", endpoint_url=args.s3_endpoint or None,
                                           region_name=args.s3_region or "us-east-1", config=config) as s3:
        return await consume(args, s3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default=ARTIFACTS_TOPIC)
    parser.add_argument("--group", default="lab-artifacts-example")
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (none and no --s3-region: skip S3)")
    parser.add_argument("--s3-region", help="AWS S3 region (when the store is AWS itself)")
    parser.add_argument("--route", help="base URL of `scanbridge artifacts serve` (none: skip the route)")
    parser.add_argument("--out", help="also save each artifact under this folder")
    parser.add_argument("--count", type=int, default=0, help="stop after this many artifacts (0: run on)")
    args = parser.parse_args(argv)
    if args.route and not os.environ.get("SCANBRIDGE_ARTIFACT_TOKEN"):
        parser.error("--route needs the subscriber token in SCANBRIDGE_ARTIFACT_TOKEN")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
