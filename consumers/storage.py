"""The folder artifact store: streamed writes with a size bound, sha256, fsync and atomic rename.

Every stored file has a sidecar marker (`.<name>.stored.json`) written only after its
`artifact.stored` event was acknowledged; a file with a marker is never fetched or announced again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumers.errors import ArtifactRejected
from schemas.files import make_dirs, open_private, write_private_text

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_COMPONENT = 120
DIGEST_CHARS = 20  # 80 bits: no two raw values of one account share a folder, even chosen ones


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


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    path: Path
    size: int
    sha256: str


class FolderStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ArtifactRejected("storage path escapes the store")
        return path

    def uri(self, relative: str) -> str:
        return self._path(relative).as_uri()

    async def write(self, relative: str, chunks: AsyncIterator[bytes], max_bytes: int) -> StoredFile:
        final = self._path(relative)
        await asyncio.to_thread(make_dirs, final.parent)
        temp = final.with_name(f".{final.name}.part-{uuid.uuid4().hex[:8]}")
        digest = hashlib.sha256()
        size = 0
        handle = await asyncio.to_thread(_create, temp)
        writing: asyncio.Future[None] | None = None
        loop = asyncio.get_running_loop()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ArtifactRejected(f"artifact larger than the limit of {max_bytes} bytes")
                if writing is not None:
                    await writing  # at most one chunk in the thread: memory stays bounded
                # Hash and write off the event loop, while the next chunk is being received.
                writing = loop.run_in_executor(None, _hash_and_write, handle, digest, chunk)
            if writing is not None:
                await writing
            await asyncio.to_thread(_flush_and_sync, handle)
            handle.close()
            await asyncio.to_thread(os.replace, temp, final)
            await asyncio.to_thread(_sync_dir, final.parent)
        except BaseException:
            if writing is not None and not writing.done():
                await asyncio.shield(writing)  # never close the file under a running write
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        return StoredFile(relative, final, size, digest.hexdigest())

    def _marker(self, relative: str) -> Path:
        path = self._path(relative)
        return path.with_name(f".{path.name}.stored.json")

    def read_marker(self, relative: str) -> dict[str, Any] | None:
        marker = self._marker(relative)
        try:
            return dict(json.loads(marker.read_text()))
        except FileNotFoundError:
            return None

    def write_marker(self, relative: str, data: dict[str, Any]) -> None:
        write_private_text(self._marker(relative), json.dumps(data, default=str))


def _create(path: Path) -> Any:
    """A new file open for writing, owner-only (0600): artifacts hold patient data."""
    return os.fdopen(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb")


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
