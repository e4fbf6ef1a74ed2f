"""Check a downloaded Medit 7z against the vendor's `items` (name, size, MD5) and optionally unpack
it inside its own folder only (meditlink-openapi.txt §3.4.1 Get File, FAQ "7-zip"; DESIGN.md §5.4).

Unsafe members (absolute, `..`, symlinks, devices) refuse the whole archive before anything is
written; size and member count are capped while decompressing. Blocking: call it in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import py7zr
from py7zr.exceptions import Bad7zFile
from py7zr.io import Py7zIO, WriterFactory

from consumers.errors import ArtifactRejected
from consumers.storage import translate_disk_full
from schemas.files import make_dirs, open_private

_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_members: int


class _Member(Py7zIO):
    """Hashes one member as it is decompressed and, when extracting, writes it to `target`."""

    def __init__(self, budget: _Budget, target: Path | None) -> None:
        self._budget = budget
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.written = 0
        # 0600: members carry patient data (DESIGN.md §5.5)
        self._handle = os.fdopen(open_private(target, _NEW), "wb") if target is not None else None

    def write(self, s: bytes | bytearray) -> int:
        self._budget.spend(len(s))
        self.md5.update(s)
        self.written += len(s)
        if self._handle is not None:
            self._handle.write(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return offset

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise ArtifactRejected("archive unpacks to more than the allowed size")


class _Factory(WriterFactory):
    def __init__(self, budget: _Budget, folder: Path | None) -> None:
        self._budget = budget
        self._folder = folder
        self.members: dict[str, _Member] = {}

    def create(self, filename: str) -> Py7zIO:
        target = None
        if self._folder is not None:
            target = inside(self._folder, filename)
            make_dirs(target.parent)
        member = self.members[filename] = _Member(self._budget, target)
        return member

    def close_all(self) -> None:
        """Close what a failed extraction left open (closing flushes, which a full disk refuses again)."""
        for member in self.members.values():
            with contextlib.suppress(OSError):
                member.close()


def safe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return bool(name) and not path.is_absolute() and ".." not in path.parts and ":" not in name


def _kind(name: str) -> str:
    """How errors name a member: its extension and what is wrong with its path, never the name itself
    (member names may carry the patient's name; errors reach events and logs whatever the policy)."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix[:12] or "no extension"
    if not safe_name(name):
        return f"a {suffix} member with an absolute, drive or '..' path"
    return f"a {suffix} member"


def inside(folder: Path, name: str) -> Path:
    """The member's path under `folder`, refusing anything that would land outside it."""
    if not safe_name(name):
        raise ArtifactRejected(f"unsafe archive member refused: {_kind(name)}")
    target = (folder / name.replace("\\", "/")).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ArtifactRejected("unsafe archive member refused (escapes its folder)")
    return target


def check_and_extract(archive: Path, items: list[dict[str, Any]], limits: Limits,
                      extract_to: Path | None = None) -> dict[str, str]:
    """Verify every listed item (and nothing unlisted); returns {name: md5}. With `extract_to`, the
    members end up there (a fresh folder, replaced atomically) — or nowhere if anything is wrong."""
    expected = {str(i.get("name")): i for i in items if isinstance(i, dict)}
    try:
        with translate_disk_full(), py7zr.SevenZipFile(archive, "r") as sz:  # a full disk: StorageFull
            infos = sz.list()
            if len(infos) > limits.max_members:
                raise ArtifactRejected(f"archive has {len(infos)} members; the limit is {limits.max_members}")
            for info in infos:
                if not safe_name(info.filename):
                    raise ArtifactRejected(f"unsafe archive member refused: {_kind(info.filename)}")
                if info.is_symlink or not (info.is_file or info.is_directory):
                    raise ArtifactRejected(f"unsafe archive member refused: {_kind(info.filename)}, a link "
                                           "or device")
            declared = sum(i.uncompressed for i in infos)
            if declared > limits.max_bytes:
                raise ArtifactRejected("archive unpacks to more than the allowed size")
            staging = None
            if extract_to is not None:
                staging = extract_to.with_name(f".{extract_to.name}.partial")
                shutil.rmtree(staging, ignore_errors=True)
                make_dirs(staging)
            factory = _Factory(_Budget(limits.max_bytes), staging)
            try:
                sz.extract(factory=factory)
            except BaseException:
                factory.close_all()
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                raise
    except (Bad7zFile, EOFError, OSError) as exc:
        raise ArtifactRejected(f"not a readable 7z archive: {type(exc).__name__}") from exc
    try:
        digests = _compare(expected, factory.members)
    except ArtifactRejected:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if staging is not None and extract_to is not None:
        shutil.rmtree(extract_to, ignore_errors=True)
        os.replace(staging, extract_to)
    return digests


def _compare(expected: dict[str, dict[str, Any]], members: dict[str, _Member]) -> dict[str, str]:
    if set(members) != set(expected):
        raise ArtifactRejected("archive members differ from the vendor's item list")
    digests = {}
    for name, member in members.items():
        item = expected[name]
        algorithm = str(item.get("hashAlgorithm") or "MD5").upper()
        if algorithm != "MD5":
            raise ArtifactRejected(f"unsupported item hash algorithm {algorithm}")
        size = item.get("size")
        if isinstance(size, int) and size != member.written:
            raise ArtifactRejected(f"size mismatch for archive member {_kind(name)}")
        digest = member.md5.hexdigest()
        if str(item.get("hashValue", "")).lower() != digest:
            raise ArtifactRejected(f"MD5 mismatch for archive member {_kind(name)}")
        digests[name] = digest
    return digests
