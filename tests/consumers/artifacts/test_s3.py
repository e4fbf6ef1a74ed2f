"""The S3 store on the project's S3Proxy: multipart, metadata, never over another object, aborted
uploads, SlowDown and an unreachable server retried, server-side encryption asked for."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from consumers.artifacts.s3 import S3Store
from consumers.clock import RealClock
from consumers.errors import ServerError, StoreRefused
from consumers.retry import RetriesExhausted
from schemas.settings import S3Settings, StorageSettings
from tests.consumers.artifacts.conftest import FAST, PART, s3_settings_for
from tests.consumers.artifacts.test_store import INTENT, META, chunks, stored
from tests.s3_faults import fault_proxy, s3_error
from tests.s3_server import S3Server

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

BIG = os.urandom(2 * PART + 12345)  # three parts


async def _uploads(client: S3Client, settings: S3Settings) -> list[Any]:
    answer = await client.list_multipart_uploads(Bucket=settings.bucket, Prefix=settings.prefix)
    return list(answer.get("Uploads", []))


async def _keys(client: S3Client, settings: S3Settings) -> list[str]:
    answer = await client.list_objects_v2(Bucket=settings.bucket, Prefix=settings.prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


async def test_a_large_artifact_goes_up_in_parts_with_its_metadata(
    s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings
) -> None:
    staged = await s3_store.write("itero/42/rx/v1/scan_3d/IDE.zip", chunks(BIG, 1 << 20), len(BIG),
                                  intent=INTENT)
    assert await _keys(s3_client, s3_settings) == []  # uploaded, not visible before the commit
    placement = await s3_store.commit(staged, META)

    assert placement.key == f"{s3_settings.prefix}itero/42/rx/v1/scan_3d/IDE.zip"
    assert placement.uri == f"s3://{s3_settings.bucket}/{placement.key}"
    assert placement.etag is not None and placement.etag.strip('"').endswith("-3")  # three parts
    head = await s3_client.head_object(Bucket=s3_settings.bucket, Key=placement.key)
    assert head["ContentLength"] == len(BIG) and head["ContentType"] == "application/zip"
    # set before the first part: the sha256 (known after the last) is in artifact.stored, not here
    assert head["Metadata"] == {"vendor": "itero", "account": "42", "order": "o-1", "version": "v1",
                                "kind": "scan_3d"}
    assert placement.sha256 == hashlib.sha256(BIG).hexdigest()
    assert head["ContentDisposition"] == 'attachment; filename="IDE.zip"'
    assert await _uploads(s3_client, s3_settings) == []
    assert list(s3_store.spool.iterdir()) == []  # nothing was spooled to the local disk


async def test_a_range_and_a_presigned_url_fetch_the_stored_bytes(
    s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings
) -> None:
    staged = await s3_store.write("v/a/o/v1/images/i.zip", chunks(BIG), len(BIG), intent=INTENT)
    placement = await s3_store.commit(staged, META)
    part = await s3_client.get_object(Bucket=s3_settings.bucket, Key=placement.key, Range="bytes=100-199")
    async with part["Body"] as body:
        assert await body.read() == BIG[100:200]
    with pytest.raises(ClientError) as beyond:
        await s3_client.get_object(Bucket=s3_settings.bucket, Key=placement.key, Range=f"bytes={len(BIG)}-")
    assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    url = await s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": s3_settings.bucket, "Key": placement.key}, ExpiresIn=60)
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 200 and hashlib.sha256(answer.content).hexdigest() == placement.sha256


async def test_an_object_already_at_the_key_is_kept_never_replaced(
    s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings
) -> None:
    first = await stored(s3_store, "v/a/o/v1/scan_3d/s.zip", b"first")
    again = await stored(s3_store, "v/a/o/v1/scan_3d/s.zip", b"second")
    assert again.existed and (again.sha256, again.size) == (first.sha256, 5)
    body = await s3_client.get_object(Bucket=s3_settings.bucket, Key=first.key)
    async with body["Body"] as stream:
        assert await stream.read() == b"first"


async def test_an_object_scanbridge_did_not_write_is_refused_not_replaced(
    s3_store: S3Store, s3_client: S3Client, s3_settings: S3Settings
) -> None:
    key = f"{s3_settings.prefix}v/a/o/v1/scan_3d/s.zip"
    await s3_client.put_object(Bucket=s3_settings.bucket, Key=key, Body=b"someone else's")
    with pytest.raises(StoreRefused):
        await stored(s3_store, "v/a/o/v1/scan_3d/s.zip", b"ours")
    body = await s3_client.get_object(Bucket=s3_settings.bucket, Key=key)
    async with body["Body"] as stream:
        assert await stream.read() == b"someone else's"


def _is(request: Request, method: str, query: str) -> bool:
    return request.method == method and query in request.url.query


async def _proxied_store(s3: S3Server, tmp_path: Path, url: str,
                         **changes: Any) -> tuple[S3Store, S3Settings]:
    settings = s3_settings_for(s3, tmp_path / "secrets", endpoint=url, **changes)
    store = S3Store(settings, tmp_path / "root", policy=FAST, clock=RealClock())
    await store.start()
    return store, settings


async def test_a_failed_multipart_upload_is_aborted_and_leaves_no_parts(
    s3: S3Server, s3_client: S3Client, tmp_path: Path
) -> None:
    async with fault_proxy(s3.endpoint) as (url, proxy):
        proxy.rules.append(lambda r: s3_error(403, "AccessDenied") if _is(r, "PUT", "partNumber=2") else None)
        store, settings = await _proxied_store(s3, tmp_path, url)
        try:
            with pytest.raises(StoreRefused):
                await stored(store, "v/a/o/v1/scan_3d/big.zip", BIG)
        finally:
            await store.close()
    assert proxy.injected == 1 and any(_is(r, "DELETE", "uploadId=") for r in proxy.seen)
    assert await _uploads(s3_client, settings) == [] and await _keys(s3_client, settings) == []


async def test_slow_down_is_retried_and_the_artifact_is_stored(
    s3: S3Server, s3_client: S3Client, tmp_path: Path
) -> None:
    throttled = iter(range(2))

    def slow_down(request: Request) -> Response | None:
        if _is(request, "PUT", "partNumber=") and next(throttled, None) is not None:
            return s3_error(503, "SlowDown")
        return None

    async with fault_proxy(s3.endpoint) as (url, proxy):
        proxy.rules.append(slow_down)
        store, settings = await _proxied_store(s3, tmp_path, url)
        try:
            staged = await store.write("v/a/o/v1/s/big.zip", chunks(BIG), len(BIG), intent=INTENT)
            placement = await store.commit(staged, META)
        finally:
            await store.close()
    assert proxy.injected == 2
    assert placement.sha256 == hashlib.sha256(BIG).hexdigest()
    assert await _keys(s3_client, settings) == [placement.key] and await _uploads(s3_client, settings) == []


async def test_an_unreachable_server_is_retried_then_reported_and_nothing_is_placed(
    s3: S3Server, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = s3_settings_for(s3, tmp_path / "secrets", endpoint=closed)
    store = S3Store(settings, tmp_path / "root", policy=FAST, clock=RealClock())
    await store.start()  # the stale-upload sweep fails quietly: the worker still starts
    try:
        staged = await store.write("v/a/o/v1/s/x.zip", chunks(b"x"), 10, intent=INTENT)
        with pytest.raises(RetriesExhausted) as caught:
            await store.commit(staged, META)
    finally:
        await store.close()
    assert isinstance(caught.value.last, ServerError) and len(caught.value.attempts) > 1
    assert staged.pending.body is None  # dropped with the failed commit


async def test_encryption_and_storage_class_are_asked_for_and_a_refusal_leaves_nothing(
    s3: S3Server, s3_client: S3Client, tmp_path: Path
) -> None:
    async with fault_proxy(s3.endpoint) as (url, proxy):
        store, settings = await _proxied_store(s3, tmp_path, url, sse="aws:kms", sse_kms_key_id="k-1",
                                               storage_class="STANDARD_IA")
        try:  # S3Proxy 2.6.0 implements no server-side encryption: it answers 501 NotImplemented
            with pytest.raises(StoreRefused):
                await stored(store, "v/a/o/v1/s/x.zip", BIG)
        finally:
            await store.close()
    create = next(r for r in proxy.seen if _is(r, "POST", "uploads"))
    assert create.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert create.headers["x-amz-server-side-encryption-aws-kms-key-id"] == "k-1"
    assert create.headers["x-amz-storage-class"] == "STANDARD_IA"
    assert await _uploads(s3_client, settings) == [] and await _keys(s3_client, settings) == []


def test_settings_refuse_an_s3_store_without_bucket_or_with_half_the_credentials(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"storage\.s3\.bucket"):
        StorageSettings(backend="s3")
    with pytest.raises(ValidationError, match="or neither"):
        S3Settings(bucket="b", access_key_id_file=tmp_path / "key-id")
