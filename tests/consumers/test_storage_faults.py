"""The folder store under faults: a full disk is retryable `StorageFull`, and temporary files left by a
killed writer are removed at start while a live writer's are kept (issue 10 item 10).

ENOSPC comes from the kernel: temporary files are opened on /dev/full through the store's writer seam
(a tmpfs would need root to mount; RLIMIT_FSIZE gives EFBIG, another error).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import pytest

from bus.local import LocalBus
from consumers.errors import ArtifactRejected, RetryableError, StorageFull
from consumers.meditlink import archive as medit_archive
from consumers.meditlink.archive import Limits, check_and_extract
from consumers.storage import FolderStore, _create
from scanbridge.runtime import run_worker
from schemas.settings import BusSettings, Settings, StorageSettings
from simulators.meditlink.archives import build_archive, items_of

ROOT = Path(__file__).resolve().parents[2]


def _full_disk(path: Path) -> BinaryIO:
    return open("/dev/full", "wb")  # the store closes it


async def _chunks(size: int, chunk: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, size, chunk):
        yield b"x" * min(chunk, size - start)


@pytest.mark.parametrize("size", [10, 1_000_000], ids=["fails-at-flush", "fails-at-write"])
async def test_a_full_disk_is_storage_full_which_is_retryable_and_leaves_nothing(tmp_path: Path,
                                                                                 size: int) -> None:
    """Before: a bare OSError, which the worker retried three times within a minute, then dead-lettered."""
    store = FolderStore(tmp_path, opener=_full_disk)
    with pytest.raises(StorageFull, match="ENOSPC") as caught:
        await store.write("a/scan.zip", _chunks(size), max_bytes=10**7)
    assert isinstance(caught.value, RetryableError)
    assert list((tmp_path / "a").iterdir()) == []


def _killed_writer(root: Path) -> Path:
    """A process that starts writing an artifact and is killed with SIGKILL in the middle."""
    code = (
        "import os, signal, sys, pathlib\n"
        "from consumers.storage import _create\n"
        "handle = _create(pathlib.Path(sys.argv[1]))\n"
        "handle.write(b'half an artifact'); handle.flush()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    part = root / "itero/clinic-1/rx/v1/scan_3d/.IDE.zip.part-deadbeef"
    part.parent.mkdir(parents=True)
    result = subprocess.run([sys.executable, "-c", code, str(part)], cwd=ROOT, check=False)
    assert result.returncode == -9 and part.read_bytes() == b"half an artifact"
    return part


async def test_a_part_file_of_a_killed_writer_is_removed_and_a_live_writers_is_kept(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    dead = _killed_writer(tmp_path)
    named = "itero/clinic-1/rx/v1/images/photos.part-00000000"  # a vendor's file name, not ours
    stored = await store.write(named, _chunks(100), max_bytes=1000)
    live = tmp_path / "itero/clinic-1/rx/v1/images/.more.zip.part-cafecafe"
    with _create(live) as writing:  # another worker, still writing
        writing.write(b"in progress")
        assert store.remove_leftovers() == 1
        assert not dead.exists() and live.exists()
    assert stored.path.read_bytes() == b"x" * 100
    assert store.remove_leftovers() == 1 and not live.exists()  # its writer is gone now


async def test_the_worker_removes_leftover_part_files_when_it_starts(tmp_path: Path) -> None:
    """Before: a killed worker's `.part` files stayed in the store for ever."""
    dead = _killed_writer(tmp_path / "artifacts")
    settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                        storage=StorageSettings(root=tmp_path / "artifacts"), state_dir=tmp_path / "state")
    stop = asyncio.Event()
    stop.set()  # start, then stop at once
    bus = LocalBus(settings.bus.local_path)
    await bus.start()
    try:
        await bus.ensure_topics(settings.bus.topics.all())
        await run_worker(settings, bus, stop)
    finally:
        await bus.close()
    assert not dead.exists()


def test_a_full_disk_while_unpacking_a_medit_archive_is_storage_full_not_a_bad_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the ENOSPC became ArtifactRejected("not a readable 7z archive"), a permanent failure."""
    members = [("upper.stl", b"u" * 100_000), ("lower.stl", b"l" * 100_000)]
    archive = tmp_path / "a.7z"
    archive.write_bytes(build_archive(members))
    monkeypatch.setattr(medit_archive, "open_private", lambda path, flags: os.open("/dev/full", os.O_WRONLY))
    with pytest.raises(StorageFull):
        check_and_extract(archive, items_of(members), Limits(10**7, 10), tmp_path / "unpacked")
    assert not (tmp_path / "unpacked").exists() and not (tmp_path / ".unpacked.partial").exists()
    monkeypatch.undo()
    (tmp_path / "bad.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 40)
    with pytest.raises(ArtifactRejected):  # an unreadable archive stays a permanent failure
        check_and_extract(tmp_path / "bad.7z", items_of(members), Limits(10**7, 10), tmp_path / "unpacked")
