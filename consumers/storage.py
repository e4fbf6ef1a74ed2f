"""The folder artifact store: streamed writes with a size bound, sha256, fsync and atomic rename.
It stages in place (`consumers.artifacts.base`): a written file is at its final path; `discard`
removes one that failed its checks.

What was announced is recorded in the state store (consumers.announced), not beside the files.
A full disk (ENOSPC, EDQUOT) is `StorageFull`, retryable. A file being written is a `.<name>.part-…`
held under an exclusive `flock` by its writer; one that no live writer holds was left by a killed
process and is removed by `remove_leftovers` at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from consumers.artifacts.base import Aged, Intent, ObjectMeta, Placement
from consumers.errors import ArtifactRejected, StorageFull
from schemas.files import make_dirs, open_private

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_COMPONENT = 120
DIGEST_CHARS = 20  # 80 bits: no two raw values of one account share a folder, even chosen ones
_PART = ".part-"
_PART_FILE = re.compile(r"\..+\.part-[0-9a-f]{8}")  # `.<name>.part-<8 hex>`: never a stored file
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
Opener = Callable[[Path], BinaryIO]


@contextlib.contextmanager
def translate_disk_full() -> Iterator[None]:
    """The one place a full disk becomes `StorageFull`; any other OSError stays what it is."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull(f"artifact store full: {errno.errorcode[exc.errno]}") from exc
        raise


def safe_component(value: str) -> str:
    """One path component made of safe characters only; never '', '.' or '..'; two different values
    never give the same component.

    A value that is safe as it is stays as it is (it never starts or ends with `.` or `_`). Any other —
    unsafe characters replaced, ends stripped, or cut to length — gets a digest of the raw value and a
    final `_`, so `A/1` and `A_1`, or two long ids sharing a prefix, land in different folders.
    """
    cleaned = _UNSAFE.sub("_", value).strip("._") or "_"
    if cleaned == value and len(value) <= MAX_COMPONENT:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]
    return f"{cleaned[:MAX_COMPONENT - DIGEST_CHARS - 2]}_{digest}_"


HEAD_BYTES = 64 * 1024
TAIL_BYTES = 128 * 1024  # a zip's end records: 22 bytes + a comment of up to 64 KiB + the ZIP64 ones


@dataclass(frozen=True)
class StoredFile:
    """Written bytes, staged for the vendor checks: `head` and `tail` (the first 64 KiB and the last
    128 KiB) are enough for a magic number or a zip's end records; `path` is a local file with all of
    them, None when the S3 store streamed them out without keeping a copy (see `Intent.whole_file`).
    `pending` is the backend's own handle on what `commit` still has to do."""

    relative_path: str
    path: Path | None
    size: int
    sha256: str
    head: bytes = b""
    tail: bytes = b""
    pending: Any = field(default=None, repr=False, compare=False)


class Ends:
    """Keeps the first `HEAD_BYTES` and the last `TAIL_BYTES` of a stream as it passes."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._tail = bytearray()

    def add(self, chunk: bytes) -> None:
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        self._tail += chunk[-TAIL_BYTES:]
        if len(self._tail) > 2 * TAIL_BYTES:  # trimmed now and then: amortised, never per chunk
            del self._tail[:-TAIL_BYTES]

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    @property
    def tail(self) -> bytes:
        return bytes(self._tail[-TAIL_BYTES:])


class FolderStore:
    def __init__(self, root: Path, opener: Opener | None = None) -> None:
        """`opener` creates a temporary file for writing (a seam for tests: a disk that fills up)."""
        self.root = root.resolve()
        self._open = opener or _create

    def _path(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ArtifactRejected("storage path escapes the store")
        return path

    def uri(self, relative: str) -> str:
        return self._path(relative).as_uri()

    async def write(self, relative: str, chunks: AsyncIterator[bytes], max_bytes: int,
                    intent: Intent | None = None) -> StoredFile:
        """The file is at its final path once written, whatever `intent` says (the whole file is local)."""
        with translate_disk_full():
            return await self._write(relative, chunks, max_bytes)

    async def _write(self, relative: str, chunks: AsyncIterator[bytes], max_bytes: int) -> StoredFile:
        final = self._path(relative)
        await asyncio.to_thread(make_dirs, final.parent)
        temp = final.with_name(f".{final.name}{_PART}{uuid.uuid4().hex[:8]}")
        digest = hashlib.sha256()
        ends = Ends()
        size = 0
        handle = await asyncio.to_thread(self._open, temp)
        writing: asyncio.Future[None] | None = None
        loop = asyncio.get_running_loop()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ArtifactRejected(f"artifact larger than the limit of {max_bytes} bytes")
                if writing is not None:
                    await writing  # at most one chunk in the thread: memory stays bounded
                ends.add(chunk)
                # Hash and write off the event loop, while the next chunk is being received.
                writing = loop.run_in_executor(None, _hash_and_write, handle, digest, chunk)
            if writing is not None:
                await writing
            await asyncio.to_thread(_flush_and_sync, handle)
            await asyncio.to_thread(os.replace, temp, final)  # still holding the lock: never swept
            handle.close()
            await asyncio.to_thread(_sync_dir, final.parent)
        except BaseException:
            if writing is not None and not writing.done():
                await asyncio.shield(writing)  # never close the file under a running write
            with contextlib.suppress(OSError):  # closing flushes: on a full disk that fails again
                handle.close()
            temp.unlink(missing_ok=True)
            raise
        return StoredFile(relative, final, size, digest.hexdigest(), ends.head, ends.tail)

    async def start(self, *, sweep: bool = True) -> None:
        if sweep:
            await asyncio.to_thread(self.remove_leftovers)  # .part files of a worker that was killed

    async def close(self) -> None:
        return None

    async def commit(self, staged: StoredFile, meta: ObjectMeta) -> Placement:
        return Placement(uri=self.uri(staged.relative_path), key=staged.relative_path, sha256=staged.sha256,
                         size=staged.size)

    async def discard(self, staged: StoredFile) -> None:
        await asyncio.to_thread(self._path(staged.relative_path).unlink, missing_ok=True)

    async def locate(self, relative: str, *, ttl_s: int) -> Path:
        return self._path(relative)

    async def older_than(self, before: datetime) -> list[Aged]:
        return await asyncio.to_thread(self._older_than, before.timestamp())

    def _older_than(self, before: float) -> list[Aged]:
        found = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # .spool, .artifacts: not artifacts
            for name in names:
                if name.startswith("."):  # partial files (and old releases' markers)
                    continue
                path = Path(folder) / name
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    if stat.st_mtime < before:
                        found.append(Aged(path.relative_to(self.root).as_posix(), stat.st_size,
                                          datetime.fromtimestamp(stat.st_mtime, UTC)))
        return found

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    def remove_leftovers(self) -> int:
        """Remove the `.part` files of writers that died (no live writer holds their lock); blocking."""
        removed = 0
        for folder, _, names in os.walk(self.root):
            for name in names:
                if _PART_FILE.fullmatch(name) and _remove_unheld(Path(folder) / name):
                    removed += 1
        if removed:
            log.warning("removed %d partial files left by a stopped worker", removed)
        return removed


def _create(path: Path) -> BinaryIO:
    """A new file open for writing, owner-only (0600: artifacts hold patient data), under an exclusive
    lock that ends with this process (a sweep that removed it before the lock was taken: made again)."""
    while True:
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(path, fd):
                return os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _remove_unheld(path: Path) -> bool:
    """Remove `path` unless a live writer holds its lock."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # being written
    else:
        if not _same_file(path, fd):
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _hash_and_write(handle: Any, digest: Any, chunk: bytes) -> None:
    digest.update(chunk)
    handle.write(chunk)


def _flush_and_sync(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
