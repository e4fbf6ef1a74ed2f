"""Stream an artifact into S3 while it downloads: parts go up as they fill, sha256 on the way, and
the multipart upload is completed only on commit, after the vendor check (S3 API Reference:
CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload; DESIGN.md §8).

Memory is bounded: per write, the part being filled; store-wide, at most `max_parts_in_flight`
parts uploading (a semaphore that the next full part waits for, which holds the download back).
An artifact no larger than one part starts no multipart upload: its bytes wait in memory for one
conditional PUT on commit. Whatever fails before commit (the download, a part, the size limit,
a cancellation) aborts the upload, so no parts are left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from consumers.artifacts.base import Intent
from consumers.errors import ArtifactRejected
from consumers.storage import Ends, StoredFile, translate_disk_full
from schemas.files import make_dirs, open_private

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from consumers.artifacts.s3 import S3Store


@dataclass
class Pending:
    """What `commit` still has to do: one PUT of `body`, or complete the upload `upload_id`."""

    key: str
    body: bytes | None = None
    upload_id: str | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)
    sending: set[asyncio.Task[None]] = field(default_factory=set)
    failures: list[BaseException] = field(default_factory=list)

    def settled(self, task: asyncio.Task[None]) -> None:
        self.sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures.append(task.exception())  # type: ignore[arg-type]

    def raise_failure(self) -> None:
        if self.failures:
            raise self.failures[0]

    async def settle(self) -> None:
        """Wait for the parts still uploading (never cancelled: S3 may keep a part cut mid-way)."""
        while self.sending:
            await asyncio.wait(set(self.sending))


async def stream(store: S3Store, relative: str, key: str, chunks: AsyncIterator[bytes], max_bytes: int,
                 intent: Intent) -> StoredFile:
    """Hash the chunks and upload them part by part as they come; return them staged (not visible)."""
    pending = Pending(key)
    folder = store.spool / uuid.uuid4().hex if intent.whole_file else None
    path = folder / PurePosixPath(relative).name if folder is not None else None
    try:
        if folder is not None and path is not None:
            await asyncio.to_thread(make_dirs, folder)  # 0700: the bytes may be a patient's
            local: BinaryIO | None = await asyncio.to_thread(_create, path)
        else:
            local = None
        try:
            with translate_disk_full():
                size, sha256, ends = await _send(store, pending, chunks, max_bytes, intent, local)
        finally:
            if local is not None:
                local.close()
    except BaseException:
        await asyncio.shield(abort(store, pending, folder))
        raise
    return StoredFile(relative, path, size, sha256, ends.head, ends.tail, pending)


async def _send(store: S3Store, pending: Pending, chunks: AsyncIterator[bytes], max_bytes: int,
                intent: Intent, local: BinaryIO | None) -> tuple[int, str, Ends]:
    digest, ends = hashlib.sha256(), Ends()
    part_size = store.settings.part_size_bytes
    loop = asyncio.get_running_loop()
    size = filled = 0
    buffer: list[bytes] = []  # the part being filled, joined once when full (one copy)
    hashing: asyncio.Future[None] | None = None
    etags: dict[int, str] = {}

    async def send(body: bytes) -> None:
        if pending.upload_id is None:
            pending.upload_id = await store.create_upload(pending.key, intent.meta)
        await store.buffers.acquire()  # a free part buffer, or the download waits here
        if pending.failures:  # a part failed meanwhile: start no other
            store.buffers.release()
            pending.raise_failure()
        task = asyncio.create_task(_part(store, pending, len(pending.parts) + 1, body, etags))
        pending.parts.append({})  # numbered in order; filled in once all are uploaded
        pending.sending.add(task)
        task.add_done_callback(lambda _: store.buffers.release())  # however it ends, even unstarted
        task.add_done_callback(pending.settled)

    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise ArtifactRejected(f"artifact larger than the limit of {max_bytes} bytes")
            pending.raise_failure()  # a part that failed stops the download
            if hashing is not None:
                await hashing  # at most one chunk in the thread
            hashing = loop.run_in_executor(None, _consume, digest, local, chunk)
            ends.add(chunk)
            buffer.append(chunk)
            filled += len(chunk)
            if filled >= part_size:
                await send(b"".join(buffer))
                buffer, filled = [], 0
        if hashing is not None:
            await hashing
        if pending.upload_id is not None and buffer:
            await send(b"".join(buffer))
            buffer, filled = [], 0
        await pending.settle()
        pending.raise_failure()
    finally:
        if hashing is not None and not hashing.done():
            await asyncio.shield(hashing)  # never close the local copy under a running write
    if pending.upload_id is None:
        pending.body = b"".join(buffer)
    pending.parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
    return size, digest.hexdigest(), ends


async def _part(store: S3Store, pending: Pending, number: int, body: bytes,
                etags: dict[int, str]) -> None:
    assert pending.upload_id is not None
    etags[number] = await store.upload_part(pending.key, pending.upload_id, number, body)


async def abort(store: S3Store, pending: Pending, folder: Path | None) -> None:
    """Drop what a staged write left: its multipart upload (aborted), its body, its local copy."""
    await pending.settle()  # parts still uploading would outlive the abort (S3: AbortMultipartUpload)
    upload_id, pending.upload_id, pending.body = pending.upload_id, None, None
    if upload_id is not None:
        await store.abort(pending.key, upload_id)
    if folder is not None:
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _consume(digest: Any, local: BinaryIO | None, chunk: bytes) -> None:
    digest.update(chunk)
    if local is not None:
        local.write(chunk)


def _create(path: Path) -> BinaryIO:
    return os.fdopen(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb")
