"""Download → S3: MB/s and peak RSS of the worker's path against a plain multipart upload of the same bytes.

    python -m bench.s3download {scanbridge|plain} SIM_JSON ORDER_ID TEMPLATE S3_JSON REPEAT  (one JSON line)

`scanbridge` is IteroClient.download into the S3 store (`consumers/artifacts/s3.py`: parts uploaded
while the download runs, sha256, then the commit: HEAD and CompleteMultipartUpload, or one PUT), each
repeat to a new key, with the worker's defaults (16 MiB parts, 4 in flight). `plain` — the ceiling —
is the same aiobotocore client (the store's own, same configuration) uploading the simulator's file
of the same bytes, read from the page cache: CreateMultipartUpload, UploadPart with the same part size
and parts in flight, CompleteMultipartUpload (or one PutObject below one part). No download, no hash:
what the S3 server and the client can take. Objects are deleted after the clock stops.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.artifacts import s3_settings
from bench.download import rss_mb
from consumers.artifacts.base import Intent, ObjectMeta, intending
from consumers.artifacts.s3 import S3Store
from consumers.clock import RealClock
from consumers.http import new_client
from consumers.itero import pairing
from consumers.itero.client import IteroClient
from consumers.tokens import TokenKeepers
from scanbridge.shared import open_state
from schemas.settings import IteroConnection, Settings, WebhookAuth, WorkerSettings

META = ObjectMeta(vendor="itero", account="bench", order="o", version="v1", kind="scan_3d",
                  file_name="IDE.zip", media_type="application/zip")


async def plain(store: S3Store, template: Path, total: int, repeat: int) -> tuple[int, float, list[str]]:
    client, bucket = store.client, store.bucket
    part, in_flight = store.settings.part_size_bytes, asyncio.Semaphore(store.settings.max_parts_in_flight)
    keys: list[str] = []
    began = time.perf_counter()
    for i in range(repeat):
        key = f"{store.settings.prefix}plain/{i}/IDE.zip"
        keys.append(key)
        if total <= part:
            await client.put_object(Bucket=bucket, Key=key, Body=await asyncio.to_thread(template.read_bytes))
            continue
        upload = (await client.create_multipart_upload(Bucket=bucket, Key=key))["UploadId"]
        etags: dict[int, str] = {}

        async def one(number: int, offset: int, key: str = key, upload: str = upload,
                      etags: dict[int, str] = etags) -> None:
            try:
                body = await asyncio.to_thread(_read, template, offset, part)
                answer = await client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                                                  Body=body)
                etags[number] = answer["ETag"]
            finally:
                in_flight.release()

        async with asyncio.TaskGroup() as group:
            for number, offset in enumerate(range(0, total, part), start=1):
                await in_flight.acquire()  # a part is read only into a free buffer, as in the store
                group.create_task(one(number, offset))
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})
    return total * repeat, time.perf_counter() - began, keys


async def scanbridge(store: S3Store, sim: dict[str, Any], url: str, workdir: Path,
                     repeat: int) -> tuple[int, float, list[str]]:
    worker = WorkerSettings()
    connection = IteroConnection(
        id="bench-clinic", webhook=WebhookAuth(token="x" * 40), base_url=sim["url"],
        token_url=f"{sim['url']}/oauth/token", access_token=sim["access_token"],
        refresh_token=sim["refresh_token"],
    )
    size, keys = 0, []
    async with new_client(worker.retry.request_timeout_s) as http, \
            open_state(Settings(state_dir=workdir / "state", itero=[connection]), reload=False) as shared:
        client = IteroClient(connection, http, pairing.keeper(TokenKeepers(shared.store), connection))
        began = time.perf_counter()
        for i in range(repeat):
            with intending(Intent(META)):
                staged = await client.download(url, store, f"bench/{i}/IDE.zip",
                                               max_bytes=worker.max_artifact_bytes,
                                               chunk_bytes=worker.download_chunk_bytes)
            if staged is None:
                raise RuntimeError("the simulator answered 204 for an IDE download")
            placement = await store.commit(staged, META)
            size += placement.size
            keys.append(placement.key)
        return size, time.perf_counter() - began, keys


async def run(variant: str, sim: dict[str, Any], url: str, template: Path, total: int,
              spec: dict[str, Any], workdir: Path, repeat: int) -> tuple[int, float]:
    store = S3Store(s3_settings(spec, f"bench-{variant}-{time.time_ns()}/"), workdir / "root",
                    policy=WorkerSettings().retry, clock=RealClock())
    await store.start(sweep=False)
    try:
        if variant == "plain":
            size, seconds, keys = await plain(store, template, total, repeat)
        else:
            size, seconds, keys = await scanbridge(store, sim, url, workdir, repeat)
        for key in keys:
            await store.delete(key)
        return size, seconds
    finally:
        await store.close()


def _read(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def main(argv: list[str]) -> None:
    variant, sim = argv[0], json.loads(Path(argv[1]).read_text())
    order_id, template, spec = argv[2], Path(argv[3]), json.loads(Path(argv[4]).read_text())
    repeat = int(argv[5])
    url = f"{sim['url']}/api/third-party/v2/order/{order_id}/download/IDE"
    workdir = Path(spec["workdir"]) / f"{variant}-{time.time_ns()}"
    workdir.mkdir(parents=True)
    before = rss_mb()
    size, seconds = asyncio.run(run(variant, sim, url, template, template.stat().st_size, spec, workdir,
                                     repeat))
    print(json.dumps({"bytes": size, "repeat": repeat, "seconds": seconds, "mb_s": size / 1e6 / seconds,
                      "rss_before_mb": before, "peak_rss_mb": rss_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
