"""The S3 artifact store: any S3-compatible server through aiobotocore (S3 API Reference: PutObject,
CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, HeadObject;
"Conditional writes"; DESIGN.md §8).

`write` uploads while the download runs (`consumers.artifacts.s3stream`: parts as they fill, at
most `max_parts_in_flight` part buffers store-wide, sha256 on the way); `commit`, after the vendor
check, completes the multipart upload — or PUTs an artifact no larger than one part — with
`If-None-Match: *`, so the object appears only then. A failed or discarded upload is aborted:
no parts are left behind. Each request is retried through `consumers.retry` (SlowDown, 5xx,
unreachable); nothing is announced before `commit` returns.

Never over another object: the key holds the order version, a HEAD before the upload keeps an
object already there (an earlier write of the same artifact) instead of replacing it, and the
conditional write closes the race on servers that honour it (AWS S3, MinIO, R2). S3Proxy 2.6.0
ignores `If-None-Match` on writes: there the HEAD is the guard, with a race window between two
hosts writing the same artifact version at the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from consumers.artifacts import s3stream
from consumers.artifacts.base import Aged, Intent, ObjectMeta, Placement, current_intent
from consumers.artifacts.s3errors import ObjectExists, is_missing, translated
from consumers.artifacts.s3stream import Pending
from consumers.clock import Clock
from consumers.errors import ArtifactRejected, StoreRefused, VendorError
from consumers.retry import retrying
from consumers.storage import StoredFile
from schemas.files import make_dirs
from schemas.section import read_secret_file
from schemas.settings import RetrySettings, S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)
T = TypeVar("T")
STALE_UPLOAD = timedelta(days=1)
_SAFE_META = "-_.~:/@+=,;!*'()"


def metadata_value(value: str) -> str:
    """S3 user metadata travels in HTTP headers: ASCII only. Plain ids pass as they are."""
    return quote(value, safe=_SAFE_META)


def read_metadata(value: str) -> str:
    return unquote(value)


class S3Store:
    def __init__(self, settings: S3Settings, root: Path, *, policy: RetrySettings, clock: Clock) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.spool = root / ".spool"
        self._policy = policy
        self._clock = clock
        self.buffers = asyncio.Semaphore(settings.max_parts_in_flight)
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None

    # --- life cycle -------------------------------------------------------------------------------

    async def start(self, *, sweep: bool = True) -> None:
        s = self.settings
        config = AioConfig(
            s3={"addressing_style": s.addressing_style}, signature_version="s3v4",
            retries={"total_max_attempts": 1},  # retries are ours (consumers.retry)
            connect_timeout=s.connect_timeout_s, read_timeout=s.read_timeout_s,
            max_pool_connections=max(10, s.max_parts_in_flight * 2),
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        key_id, secret = _credentials(s)
        self._client = await self._stack.enter_async_context(get_session().create_client(
            "s3", endpoint_url=s.endpoint, region_name=s.region, config=config,
            aws_access_key_id=key_id, aws_secret_access_key=secret,
        ))
        if not sweep:
            return
        await asyncio.to_thread(_clear_spool, self.spool)
        try:  # a sweep that fails must not keep the worker from starting: the next start sweeps again
            await self.abort_stale_uploads()
        except VendorError as exc:
            log.warning("S3 sweep of stale multipart uploads skipped: %s", exc)

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3Store used before start()")
        return self._client

    def key(self, relative: str) -> str:
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ArtifactRejected("storage path escapes the store")
        return self.settings.prefix + "/".join(parts)

    def uri(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"

    # --- staging ----------------------------------------------------------------------------------

    async def write(self, relative: str, chunks: AsyncIterator[bytes], max_bytes: int,
                    intent: Intent | None = None) -> StoredFile:
        """Upload while downloading (`consumers.artifacts.s3stream`); nothing is visible before `commit`."""
        key = self.key(relative)  # refuse a bad path before any byte is read
        intent = intent or current_intent()
        if intent is None:  # the multipart upload carries the object's metadata from its first part
            raise RuntimeError("S3Store.write outside consumers.artifacts.base.intending()")
        return await s3stream.stream(self, relative, key, chunks, max_bytes, intent)

    async def discard(self, staged: StoredFile) -> None:
        pending = staged.pending
        if isinstance(pending, Pending):
            folder = staged.path.parent if staged.path is not None else None
            await s3stream.abort(self, pending, folder if folder and folder.parent == self.spool else None)

    # --- placing ----------------------------------------------------------------------------------

    async def commit(self, staged: StoredFile, meta: ObjectMeta) -> Placement:
        """Complete the upload (or PUT the small body), conditionally; an object already at the key is
        kept and described instead, and ours aborted."""
        pending = staged.pending
        if not isinstance(pending, Pending):
            raise RuntimeError("S3Store.commit of bytes it did not stage")
        key = pending.key
        try:
            existing = await self.head(key)
            if existing is not None:
                return existing
            try:
                answer = await self._place(pending, meta, staged.sha256)
            except ObjectExists:  # another writer got there between our HEAD and our write
                existing = await self.head(key)
                if existing is None:
                    raise
                return existing
            return Placement(uri=f"s3://{self.bucket}/{key}", key=key, bucket=self.bucket,
                             sha256=staged.sha256, size=staged.size, etag=answer.get("ETag"),
                             version_id=answer.get("VersionId"))
        finally:
            await asyncio.shield(self.discard(staged))

    async def _place(self, pending: Pending, meta: ObjectMeta, sha256: str) -> dict[str, Any]:
        key, upload_id = pending.key, pending.upload_id
        if upload_id is None:
            body = pending.body or b""
            return await self._call("PutObject", lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", **self.write_params(meta, sha256)))
        answer = await self._call("CompleteMultipartUpload", lambda: self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, IfNoneMatch="*",
            MultipartUpload={"Parts": pending.parts}))  # type: ignore[typeddict-item]
        pending.upload_id = None  # completed: nothing left to abort
        return answer

    async def locate(self, relative: str, *, ttl_s: int) -> str:
        """A pre-signed GET URL (signed here, no request made): the reader's Range and If-None-Match
        go to the store itself."""
        return await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.key(relative)}, ExpiresIn=ttl_s)

    async def head(self, key: str) -> Placement | None:
        """The object at `key` as a placement, None when there is none. A multipart object has no
        sha256 in its metadata (set before its first part, the digest is known only after the last):
        that one object is read back and hashed — it happens only when a write found its object there."""

        async def step() -> dict[str, Any] | None:
            with translated("HeadObject"):
                try:
                    return dict(await self.client.head_object(Bucket=self.bucket, Key=key))
                except ClientError as exc:
                    if is_missing(exc):
                        return None
                    raise

        found = await self._retrying(step, "HeadObject")
        if found is None:
            return None
        metadata = found.get("Metadata", {})
        if not {"vendor", "kind"} <= set(metadata):
            raise StoreRefused("S3: an object that scanbridge did not write is already at the key")
        sha256 = read_metadata(metadata["sha256"]) if "sha256" in metadata else await self._digest(key)
        return Placement(uri=f"s3://{self.bucket}/{key}", key=key, bucket=self.bucket, sha256=sha256,
                         size=int(found.get("ContentLength", 0)), etag=found.get("ETag"),
                         version_id=found.get("VersionId"), existed=True)

    async def _digest(self, key: str) -> str:
        async def step() -> str:
            digest = hashlib.sha256()
            with translated("GetObject"):
                answer = await self.client.get_object(Bucket=self.bucket, Key=key)
                async with answer["Body"] as body:
                    async for chunk in body.iter_chunks(1 << 20):
                        await asyncio.to_thread(digest.update, chunk)
            return digest.hexdigest()

        return await self._retrying(step, "GetObject")

    def write_params(self, meta: ObjectMeta, sha256: str | None) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "ContentType": meta.media_type,
            "ContentDisposition": f'attachment; filename="{metadata_value(meta.file_name)}"',
            "Metadata": {k: metadata_value(v) for k, v in meta.as_metadata(sha256).items()},
        }
        if s.sse:
            params["ServerSideEncryption"] = s.sse
            if s.sse == "aws:kms" and s.sse_kms_key_id:
                params["SSEKMSKeyId"] = s.sse_kms_key_id
        if s.storage_class:
            params["StorageClass"] = s.storage_class
        return params

    async def create_upload(self, key: str, meta: ObjectMeta) -> str:
        created = await self._call("CreateMultipartUpload", lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, **self.write_params(meta, None)))
        return str(created["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        answer = await self._call("UploadPart", lambda: self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body))
        return str(answer["ETag"])

    async def abort(self, key: str, upload_id: str) -> None:
        for attempt in range(3):
            try:
                with translated("AbortMultipartUpload"):
                    await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                return
            except VendorError as exc:  # logged; abort_stale_uploads sweeps at the next start
                if attempt == 2:
                    log.warning("S3 multipart upload not aborted (swept at next start): %s", exc)
                else:
                    await asyncio.sleep(0.2 * (attempt + 1))

    async def abort_stale_uploads(self) -> int:
        """Abort multipart uploads under our prefix older than a day (a crashed writer's parts)."""
        older = datetime.now(UTC) - STALE_UPLOAD
        with translated("ListMultipartUploads"):  # once, not retried: start-up must not wait on it
            answer = await self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.settings.prefix)
        stale = [u for u in answer.get("Uploads", []) if u.get("Initiated") and u["Initiated"] < older]
        for upload in stale:
            await self.abort(upload["Key"], upload["UploadId"])
        return len(stale)

    # --- requests ---------------------------------------------------------------------------------

    async def _call(self, what: str, make: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        async def step() -> dict[str, Any]:
            with translated(what):
                return dict(await make())

        return await self._retrying(step, what)

    async def _retrying(self, step: Callable[[], Awaitable[T]], what: str) -> T:
        return await retrying(step, policy=self._policy, clock=self._clock, what=f"S3 {what}")

    # --- retention --------------------------------------------------------------------------------

    async def older_than(self, before: datetime) -> list[Aged]:
        found: list[Aged] = []
        with translated("list objects"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.settings.prefix)
            async for page in pages:
                for item in page.get("Contents", []):
                    if item["LastModified"] < before:
                        found.append(Aged(item["Key"], item["Size"], item["LastModified"]))
        return found

    async def delete(self, key: str) -> None:
        await self._call("delete object", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))


def _credentials(settings: S3Settings) -> tuple[str | None, str | None]:
    """From the two secret files when named; else None lets the SDK look (environment, profile, role)."""
    if settings.access_key_id_file is None or settings.secret_access_key_file is None:
        return None, None  # the settings allow both or neither
    try:
        return (read_secret_file("storage.s3.access_key_id_file", settings.access_key_id_file),
                read_secret_file("storage.s3.secret_access_key_file", settings.secret_access_key_file))
    except ValueError as exc:  # names the key and the path, never the content
        raise StoreRefused(str(exc)) from None


def _clear_spool(spool: Path) -> None:
    """Make the spool; drop what a crashed process left there more than a day ago."""
    make_dirs(spool)
    older = (datetime.now(UTC) - STALE_UPLOAD).timestamp()
    for folder in spool.iterdir():
        if folder.stat().st_mtime < older:
            shutil.rmtree(folder, ignore_errors=True)
