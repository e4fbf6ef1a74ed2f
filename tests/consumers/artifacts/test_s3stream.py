"""Streaming into S3 while downloading, on the project's S3Proxy: parts go up before the download
ends, a bounded number at once; nothing is visible before commit; whatever fails or is discarded
leaves no multipart upload; another version already at the key is never overwritten."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from consumers.artifacts.base import Intent
from consumers.artifacts.s3 import S3Store
from consumers.clock import RealClock
from consumers.errors import ServerError
from schemas.settings import S3Settings
from tests.consumers.artifacts.conftest import FAST, PART, s3_settings_for
from tests.consumers.artifacts.test_store import INTENT, META, chunks, stored
from tests.s3_faults import fault_proxy, s3_error
from tests.s3_server import S3Server

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

PARTS = 5
BIG = os.urandom(PARTS * PART - 1000)  # five parts, the last a little short
KEY = "v/a/o/v1/scan_3d/big.zip"


async def _uploads(client: S3Client, settings: S3Settings) -> list[Any]:
    answer = await client.list_multipart_uploads(Bucket=settings.bucket, Prefix=settings.prefix)
    return list(answer.get("Uploads", []))


async def _keys(client: S3Client, settings: S3Settings) -> list[str]:
    answer = await client.list_objects_v2(Bucket=settings.bucket, Prefix=settings.prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


async def _read(client: S3Client, settings: S3Settings, key: str) -> bytes:
    answer = await client.get_object(Bucket=settings.bucket, Key=key)
    async with answer["Body"] as body:
        return bytes(await body.read())


async def test_parts_are_on_the_server_before_the_download_ends_and_visible_only_after_commit(
    s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploaded = asyncio.Event()
    upload_part = s3_store.upload_part

    async def noted(*args: Any) -> str:
        etag = await upload_part(*args)
        uploaded.set()  # the server answered 200 to an UploadPart
        return etag

    monkeypatch.setattr(s3_store, "upload_part", noted)

    async def download() -> AsyncIterator[bytes]:
        async for chunk in chunks(BIG[: 2 * PART + 1], 1 << 20):
            yield chunk
        await asyncio.wait_for(uploaded.wait(), 30)  # the rest only once a part is on the server
        assert await _keys(s3_client, s3_settings) == []  # parts are not an object
        async for chunk in chunks(BIG[2 * PART + 1 :], 1 << 20):
            yield chunk

    staged = await s3_store.write(KEY, download(), len(BIG), intent=INTENT)
    assert await _keys(s3_client, s3_settings) == []  # staged, checked next: still not visible
    placement = await s3_store.commit(staged, META)
    assert placement.sha256 == hashlib.sha256(BIG).hexdigest() and placement.size == len(BIG)
    assert placement.etag is not None and placement.etag.strip('"').endswith(f"-{PARTS}")
    assert await _read(s3_client, s3_settings, placement.key) == BIG
    assert await _uploads(s3_client, s3_settings) == []


async def test_no_more_parts_than_the_setting_upload_at_once(
    s3_store: S3Store, s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, most = 0, 0
    upload_part = s3_store.upload_part
    two = asyncio.Event()

    async def counted(*args: Any) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running >= 2:
            two.set()
        try:  # the first waits for a second to start, then both hold their buffers a moment more:
            await asyncio.wait_for(two.wait(), 30)  # an unbounded writer would start a third by then
            await asyncio.sleep(0.05)
            return await upload_part(*args)
        finally:
            running -= 1

    monkeypatch.setattr(s3_store, "upload_part", counted)
    placement = await stored(s3_store, KEY, BIG, 1 << 20)
    assert placement.size == len(BIG)
    assert most == s3_settings.max_parts_in_flight  # 2: bounded memory, and more than one at once


@pytest.mark.parametrize("how", ["vendor check failed", "download broke", "cancelled"])
async def test_a_write_that_does_not_reach_commit_leaves_no_upload_and_no_local_copy(
    how: str, s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings
) -> None:
    intent = Intent(META, whole_file=True)  # a local copy too, as the MeditLink 7z check asks

    async def broken() -> AsyncIterator[bytes]:
        async for chunk in chunks(BIG[: 3 * PART], 1 << 20):
            yield chunk
        raise ServerError("vendor connection dropped")

    if how == "vendor check failed":
        staged = await s3_store.write(KEY, chunks(BIG, 1 << 20), len(BIG), intent=intent)
        assert staged.path is not None and staged.path.read_bytes() == BIG
        assert len(await _uploads(s3_client, s3_settings)) == 1
        await s3_store.discard(staged)
    elif how == "download broke":
        with pytest.raises(ServerError):
            await s3_store.write(KEY, broken(), len(BIG), intent=intent)
    else:
        gate = asyncio.Event()

        async def stalls() -> AsyncIterator[bytes]:
            async for chunk in chunks(BIG[: 2 * PART + 1], 1 << 20):
                yield chunk
            gate.set()
            await asyncio.Event().wait()  # a download that never ends
            yield b""

        writing = asyncio.create_task(s3_store.write(KEY, stalls(), len(BIG), intent=intent))
        await gate.wait()
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
    assert await _uploads(s3_client, s3_settings) == [] and await _keys(s3_client, s3_settings) == []
    assert list(s3_store.spool.iterdir()) == []


async def test_a_multipart_object_already_at_the_key_is_kept_and_described(
    s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings
) -> None:
    first = await stored(s3_store, KEY, BIG, 1 << 20)
    again = await stored(s3_store, KEY, BIG[::-1], 1 << 20)
    # its sha256 was not in its metadata (unknown before its first part): read back and hashed
    assert again.existed and (again.sha256, again.size) == (first.sha256, len(BIG))
    assert await _read(s3_client, s3_settings, first.key) == BIG
    assert await _uploads(s3_client, s3_settings) == []


async def test_a_conditional_write_that_loses_the_race_keeps_the_other_version(
    s3: S3Server, s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings, tmp_path: Path
) -> None:
    """Another host completes the same key between our HEAD and our CompleteMultipartUpload: a server
    that honours `If-None-Match: *` answers 412 (S3Proxy 2.6.0 ignores it; the proxy answers for it)."""
    theirs = await stored(s3_store, KEY, b"theirs")
    heads = iter([True])

    def race(request: Request) -> Response | None:
        if request.method == "HEAD" and next(heads, False):  # our first HEAD: not there yet
            return Response(status_code=404)
        if request.method == "POST" and "uploadId=" in request.url.query:
            return s3_error(412, "PreconditionFailed")
        return None

    async with fault_proxy(s3.endpoint) as (url, proxy):
        proxy.rules.append(race)
        settings = s3_settings_for(s3, tmp_path / "racer", endpoint=url, prefix=s3_settings.prefix)
        racer = S3Store(settings, tmp_path / "racer-root", policy=FAST, clock=RealClock())
        await racer.start(sweep=False)
        try:
            ours = await stored(racer, KEY, BIG, 1 << 20)
        finally:
            await racer.close()
    assert proxy.injected == 2
    complete = next(r for r in proxy.seen if r.method == "POST" and "uploadId=" in r.url.query)
    assert complete.headers.get("if-none-match") == "*"  # the conditional write is asked for
    assert ours.existed and (ours.sha256, ours.size) == (theirs.sha256, 6)
    assert await _read(s3_client, s3_settings, theirs.key) == b"theirs"
    assert await _uploads(s3_client, s3_settings) == []
