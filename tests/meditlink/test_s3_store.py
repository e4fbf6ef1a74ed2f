"""Medit Link archives with `storage.backend = "s3"`: the 7z check reads the whole archive, so the S3
store keeps a local copy while it uploads the parts; a verified archive lands in the bucket, one that
differs from the item list leaves no object, no multipart upload and no local copy
(meditlink-openapi.txt §3.4.1 items; DESIGN.md §8)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from scanbridge.runtime import run_worker
from schemas.settings import StorageSettings
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED
from simulators.meditlink.archives import BuiltArchive, archive_for
from tests.consumers.artifacts.conftest import BUCKET, open_client, s3_settings_for
from tests.events import collect, of_type
from tests.meditlink.conftest import Stack
from tests.s3_server import S3Server

SIZE = 6_000_000  # stored, not compressed: more than one 5 MiB part


async def test_a_verified_archive_goes_to_the_bucket_and_a_mismatched_one_leaves_nothing(
    stack: Stack, s3: S3Server, http: Any, tmp_path: Path
) -> None:
    await stack.connect()
    stack.sim.compress_archives = False
    storage = StorageSettings(backend="s3", root=tmp_path / "worker-root",
                              s3=s3_settings_for(s3, tmp_path / "s3-secrets"))
    good = stack.sim.create_case(files=[("maxillary.meditMesh", SIZE)])
    bad = stack.sim.create_case(files=[("mandibular.meditMesh", SIZE)])
    file_uuid = bad.files[0].uuid
    listed = archive_for(file_uuid, "mandibular.meditMesh", SIZE, "stl", compress=False)
    other = archive_for("someone-else", "mandibular.meditMesh", SIZE, "stl", compress=False)
    stack.sim.archives[f"convert-{file_uuid}/{file_uuid}.stl.7z"] = BuiltArchive(
        other.data, listed.items, listed.download_name)
    async with open_client(s3) as client:
        if BUCKET not in {b["Name"] for b in (await client.list_buckets()).get("Buckets", [])}:
            await client.create_bucket(Bucket=BUCKET)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(stack.settings.model_copy(update={"storage": storage}),
                                                stack.bus, stop))
        try:
            stack.sim.create_order(good.uuid)
            stack.sim.create_order(bad.uuid)
            await stack.poller(http).poll_once()
            events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(
                of_type(ev, ARTIFACT_STORED)) + len(of_type(ev, ARTIFACT_FAILED)) >= 2)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
        stored, = (e.json_data() for e in of_type(events, ARTIFACT_STORED))
        failed, = (e.json_data() for e in of_type(events, ARTIFACT_FAILED))
        assert "MD5 mismatch" in failed["reason"] and stored["vendor_checksum"]["verified"]
        body = await client.get_object(Bucket=BUCKET, Key=stored["key"])
        async with body["Body"] as stream:
            data = bytes(await stream.read())
        assert hashlib.sha256(data).hexdigest() == stored["sha256"] and len(data) > 5 * 1024 * 1024
        listed_keys = await client.list_objects_v2(Bucket=BUCKET, Prefix=storage.s3.prefix)
        assert [o["Key"] for o in listed_keys.get("Contents", [])] == [stored["key"]]
        uploads = await client.list_multipart_uploads(Bucket=BUCKET, Prefix=storage.s3.prefix)
        assert uploads.get("Uploads", []) == []  # the mismatched archive's upload was aborted
    assert not [p for p in (tmp_path / "worker-root").rglob("*.7z")]  # no local copy left
