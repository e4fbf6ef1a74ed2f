"""The artifact store interface shared by the folder and S3 backends (DESIGN.md §8).

A write has two steps, so that nothing anybody can read was not checked first:
`write` streams the bytes in (bounded memory, sha256 while streaming) and returns them *staged*,
readable at `StoredFile.path` for the vendor's checks; `commit` then places them where readers
find them, never over another object, or `discard` drops them. The folder backend stages in place
(as before: its file is at its final path once written); the S3 backend stages in a local spool
and uploads only on `commit`, with the object's metadata (sha256 included), so a failed check
never leaves an object or an orphaned multipart upload behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from consumers.storage import StoredFile


@dataclass(frozen=True)
class ObjectMeta:
    """What an artifact is, kept with the object (S3 user metadata); no patient data."""

    vendor: str
    account: str
    order: str
    version: str
    kind: str
    file_name: str
    media_type: str

    def as_metadata(self, sha256: str) -> dict[str, str]:
        return {"sha256": sha256, "vendor": self.vendor, "account": self.account, "order": self.order,
                "version": self.version, "kind": self.kind}


@dataclass(frozen=True)
class Placement:
    """Where committed bytes are and how to fetch them (the storage fields of `artifact.stored`).

    `sha256` and `size` describe the object at the place: when an earlier write of the same
    artifact (same key) is already there, that object is kept and described, never replaced.
    """

    uri: str
    key: str
    sha256: str
    size: int
    bucket: str | None = None
    etag: str | None = None
    version_id: str | None = None
    existed: bool = False


@dataclass(frozen=True)
class Aged:
    """A stored artifact as retention sees it: its key, size and when it was stored."""

    key: str
    size: int
    modified: datetime


class ArtifactStore(Protocol):
    """Where artifacts go. Markers (what was announced) still live beside the store until the
    state store takes them over."""

    async def start(self, *, sweep: bool = True) -> None:
        """Open the store; `sweep` also clears what a stopped writer left (partial files, the spool,
        stale multipart uploads): a worker does, a reader beside a running worker (prune) must not."""
        ...

    async def close(self) -> None: ...

    async def write(self, relative: str, chunks: AsyncIterator[bytes], max_bytes: int) -> StoredFile:
        """Stream `chunks` in (refusing more than `max_bytes`); return them staged at `.path`."""
        ...

    async def commit(self, staged: StoredFile, meta: ObjectMeta) -> Placement:
        """Place the staged bytes at their key, never over another object; retryable errors are
        retried inside (consumers.retry), so what escapes is `PermanentError` or `RetriesExhausted`."""
        ...

    async def discard(self, staged: StoredFile) -> None:
        """Drop a staged write that failed its checks: nothing of it stays."""
        ...

    async def locate(self, relative: str, *, ttl_s: int) -> Path | str:
        """Where a reader gets committed bytes: the local file (folder), or a pre-signed GET URL valid
        for `ttl_s` seconds (S3)."""
        ...

    async def older_than(self, before: datetime) -> list[Aged]:
        """Stored artifacts last written before `before` (never markers, staged or partial files)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove one stored artifact (a key from `older_than`); one already gone is no error."""
        ...

    def read_marker(self, relative: str) -> dict[str, Any] | None: ...

    def write_marker(self, relative: str, data: dict[str, Any]) -> None: ...
