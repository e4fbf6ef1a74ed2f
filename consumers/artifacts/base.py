"""The artifact store interface shared by the folder and S3 backends (DESIGN.md §8).

A write has two steps, so that nothing anybody can read was not checked first:
`write` streams the bytes in (bounded memory, sha256 while streaming) and returns them *staged*
for the vendor's checks (`StoredFile.head`/`tail`, or the whole file at `.path`); `commit` then
places them where readers find them, never over another object, or `discard` drops them. The
folder backend stages in place (its file is at its final path once written). The S3 backend
uploads the parts of a multipart upload while the download runs and completes it only on
`commit` (an object appears only then); `discard` aborts it, so a failed check leaves no object
and no orphaned parts. What the bytes are (`Intent`) is set by the pipeline around the fetch
(`intending`), since the S3 upload needs the object's metadata before the first part.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

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

    def as_metadata(self, sha256: str | None) -> dict[str, str]:
        """`sha256` only when known before the upload starts (a one-PUT object)."""
        known = {"vendor": self.vendor, "account": self.account, "order": self.order,
                 "version": self.version, "kind": self.kind}
        return known if sha256 is None else {"sha256": sha256, **known}


@dataclass(frozen=True)
class Intent:
    """What the bytes being written are: their metadata, and whether the vendor check reads the whole
    file (a 7z listing) — then the S3 store keeps a local copy at `StoredFile.path` as well."""

    meta: ObjectMeta
    whole_file: bool = False


_INTENT: ContextVar[Intent | None] = ContextVar("scanbridge_artifact_intent", default=None)


@contextmanager
def intending(intent: Intent) -> Iterator[None]:
    """Writes made inside (in this task and the tasks it starts) are the artifact `intent` names."""
    token = _INTENT.set(intent)
    try:
        yield
    finally:
        _INTENT.reset(token)


def current_intent() -> Intent | None:
    return _INTENT.get()


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
    """Where artifacts go. What was announced is not kept here but in the state store
    (consumers.announced), alike for every backend and host."""

    async def start(self, *, sweep: bool = True) -> None:
        """Open the store; `sweep` also clears what a stopped writer left (partial files, the spool,
        stale multipart uploads): a worker does, a reader beside a running worker (prune) must not."""
        ...

    async def close(self) -> None: ...

    async def write(self, relative: str, chunks: AsyncIterator[bytes], max_bytes: int,
                    intent: Intent | None = None) -> StoredFile:
        """Stream `chunks` in (refusing more than `max_bytes`); return them staged (`current_intent()`
        says what they are, unless `intent` is given; the S3 store refuses a write without one)."""
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
        """Stored artifacts last written before `before` (never staged or partial files)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove one stored artifact (a key from `older_than`); one already gone is no error."""
        ...
