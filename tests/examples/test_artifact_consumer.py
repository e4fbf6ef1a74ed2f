"""examples/consumer.py, run as its own process in its own working folder with only the S3 endpoint, its
own S3 credentials, the artifact route's URL and a subscriber token, fetches every artifact of an iTero
scan (simulator → receiver → worker on S3) both ways and verifies the sha256 (issue 13 item 6)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bus.kafka import KafkaBus
from consumers.artifacts.factory import make_store
from consumers.artifacts.route import create_route_app, token_digest
from consumers.clock import RealClock
from scanbridge.runtime import run_worker
from schemas.events import StoredArtifact
from schemas.settings import ArtifactRouteSettings, StorageSettings, Subscriber
from schemas.topics import ARTIFACT_STORED, Topics
from simulators.itero.notify import post_notification
from state.factory import make_state_store
from tests.consumers.artifacts.conftest import BUCKET, open_client, s3_settings_for
from tests.events import collect, of_type
from tests.examples.test_consumers import _event
from tests.itero.conftest import Stack
from tests.node import ROOT
from tests.s3_server import S3Server
from tests.servers import serve

EXAMPLE = ROOT / "examples" / "consumer.py"


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, list[dict[str, Any]], str]:
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, check=False, env=env)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out.returncode, lines, out.stderr


def _downstream_env(s3: S3Server, token: str) -> dict[str, str]:
    """Nothing of the worker's: no SCANBRIDGE_* settings, no config file, no secret files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCANBRIDGE_", "AWS_"))}
    return {**env, "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "SCANBRIDGE_ARTIFACT_TOKEN": token}


async def test_the_downstream_example_fetches_each_artifact_through_s3_and_the_route(
    stack: Stack, s3: S3Server, tmp_path: Path, kafka_bootstrap: str
) -> None:
    async with open_client(s3) as client:
        if BUCKET not in {b["Name"] for b in (await client.list_buckets()).get("Buckets", [])}:
            await client.create_bucket(Bucket=BUCKET)
    storage = StorageSettings(backend="s3", root=tmp_path / "worker-root",
                              s3=s3_settings_for(s3, tmp_path / "worker-secrets"))
    settings = stack.settings.model_copy(update={"storage": storage})
    token = secrets.token_urlsafe(32)
    lab = Subscriber(name="lab", token_sha256=token_digest(token))
    route_settings = ArtifactRouteSettings(subscribers=[lab])
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stack.bus, stop))
    try:
        order = stack.sim.add_order(size=300_000)
        answer = await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
        assert answer.status_code == 202
        events = await collect(stack.bus, [stack.topics.artifacts],
                               lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    stored = [StoredArtifact.model_validate(e.data) for e in of_type(events, ARTIFACT_STORED)]
    assert all(s.storage_uri.startswith("s3://") for s in stored)  # no path on the worker's disk

    store = make_store(storage, policy=settings.worker.retry, clock=RealClock())
    await store.start()
    state = make_state_store(settings.state)  # the worker's: the route finds the artifacts there
    await state.start()
    elsewhere = tmp_path / "downstream"
    elsewhere.mkdir()
    try:
        async with serve(create_route_app(route_settings, store, state)) as route:
            command = [sys.executable, str(EXAMPLE), "--bootstrap", kafka_bootstrap,
                       "--topic", stack.topics.artifacts, "--group", f"ex-{uuid.uuid4().hex}",
                       "--s3-endpoint", s3.endpoint, "--route", route, "--count", str(len(stored)),
                       "--out", "downloads"]
            env = _downstream_env(s3, token)
            code, lines, stderr = await asyncio.to_thread(_run, command, elsewhere, env)
    finally:
        await state.close()
        await store.close()
    assert code == 0, stderr[-3000:]
    assert {line["artifact_id"]: (line["s3"], line["route"]) for line in lines} == {
        s.artifact_id: ("verified", "verified") for s in stored}
    saved = sorted(p.name for p in (elsewhere / "downloads").iterdir())
    assert len(saved) == 2 * len(stored)  # one copy by each way, in the example's own folder


async def test_the_downstream_example_refuses_bytes_that_are_not_the_announced_ones(
    kafka_bus: KafkaBus, topics: Topics, s3: S3Server, tmp_path: Path, kafka_bootstrap: str
) -> None:
    """A sha256 that does not match: the example says so, exits 1 and commits nothing."""
    async with open_client(s3) as client:
        if BUCKET not in {b["Name"] for b in (await client.list_buckets()).get("Buckets", [])}:
            await client.create_bucket(Bucket=BUCKET)
        key = f"t-{uuid.uuid4().hex[:10]}/scan.zip"
        await client.put_object(Bucket=BUCKET, Key=key, Body=b"not the scan")
    event = _event(ARTIFACT_STORED, 1, bucket=BUCKET, key=key, storage_uri=f"s3://{BUCKET}/{key}")
    await kafka_bus.publish(topics.artifacts, event)
    group = f"ex-{uuid.uuid4().hex}"
    command = [sys.executable, str(EXAMPLE), "--bootstrap", kafka_bootstrap,
               "--topic", topics.artifacts, "--group", group, "--s3-endpoint", s3.endpoint, "--count", "1"]
    elsewhere = tmp_path / "downstream"
    elsewhere.mkdir()
    for _ in range(2):  # the second run sees the record again: the first committed nothing
        code, lines, _ = await asyncio.to_thread(_run, command, elsewhere, _downstream_env(s3, "x"))
        assert code == 1
        assert lines == [{"error": f"s3: artifact {event.data['artifact_id']} is not what was announced"}]
