"""An iTero scan end to end with `storage.backend = "s3"`: the worker built by the runtime puts the
zips in the bucket (the project's S3Proxy) and `artifact.stored` says where; nothing stays on its disk."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from pathlib import Path

from scanbridge.runtime import run_worker
from schemas.events import StoredArtifact
from schemas.settings import StorageSettings
from schemas.topics import ARTIFACT_STORED
from simulators.itero.notify import post_notification
from tests.consumers.artifacts.conftest import BUCKET, open_client, s3_settings_for
from tests.events import collect, of_type
from tests.itero.conftest import Stack
from tests.s3_server import S3Server


async def test_a_notified_scan_is_stored_in_the_bucket_and_announced_with_bucket_and_key(
    stack: Stack, s3: S3Server, tmp_path: Path
) -> None:
    async with open_client(s3) as client:
        if BUCKET not in {b["Name"] for b in (await client.list_buckets()).get("Buckets", [])}:
            await client.create_bucket(Bucket=BUCKET)
        storage = StorageSettings(backend="s3", root=tmp_path / "worker-root",
                                  s3=s3_settings_for(s3, tmp_path / "s3-secrets"))
        settings = stack.settings.model_copy(update={"storage": storage})
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stack.bus, stop))
        try:
            order = stack.sim.add_order(size=200_000)
            answer = await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
            assert answer.status_code == 202
            events = await collect(stack.bus, [stack.topics.artifacts],
                                   lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)

        for event in of_type(events, ARTIFACT_STORED):
            stored = StoredArtifact.model_validate(event.data)
            assert stored.bucket == BUCKET and stored.key and stored.key.startswith(storage.s3.prefix)
            assert stored.storage_uri == f"s3://{BUCKET}/{stored.key}" and stored.etag
            body = await client.get_object(Bucket=BUCKET, Key=stored.key)
            async with body["Body"] as stream:
                data = bytes(await stream.read())
            assert hashlib.sha256(data).hexdigest() == stored.sha256 and len(data) == stored.size
            assert zipfile.is_zipfile(io.BytesIO(data))
    assert not [p for p in (tmp_path / "worker-root").rglob("*.zip")]  # the spool is empty again
