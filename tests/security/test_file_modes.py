"""Files at rest are private (DESIGN.md §5.5): whatever scanbridge creates is 0600, its folders 0700,
even when the process umask would allow more (issue 10, item 3)."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.local import LocalBus
from consumers.itero import orderindex, pairing
from consumers.meditlink.archive import Limits, check_and_extract
from consumers.storage import FolderStore
from consumers.threeshape.watchlist import WatchList
from scanbridge.cli import app
from schemas.credentials import write_private
from schemas.envelope import Envelope
from schemas.settings import IteroConnection, Settings, ThreeShapeConnection, WebhookAuth
from simulators.meditlink.archives import build_archive, items_of
from state.seal import local_key
from state.sqlite import SqliteDatabase
from tests.shared import shared_state


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """A umask that would give group and others read access: the code must not rely on the umask."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def modes(root: Path) -> dict[str, str]:
    """Every path under `root` (not `root` itself) → its permission bits in octal."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def assert_private(root: Path) -> None:
    found = modes(root)
    assert found, "nothing was created"
    loose = {path: mode for path, mode in found.items()
             if mode != ("0o700" if (root / path).is_dir() else "0o600")}
    assert not loose, loose


async def _chunks() -> AsyncIterator[bytes]:
    yield b"scan bytes"


async def test_the_local_bus_its_wal_and_shm_and_the_folder_it_makes_are_private(tmp_path: Path) -> None:
    bus = LocalBus(tmp_path / "var" / "bus" / "bus.sqlite3")  # also what the receiver's spool is
    await bus.start()
    try:
        await bus.ensure_topics(["t"])
        await bus.publish("t", Envelope(id="1", source="s", type="x", partitionkey="k", data={"a": 1}))
        names = set(modes(tmp_path))
        assert {"var/bus/bus.sqlite3-wal", "var/bus/bus.sqlite3-shm"} <= names
        assert_private(tmp_path)
    finally:
        await bus.close()


async def test_a_local_bus_file_left_readable_by_an_older_run_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite3"
    for name in ("bus.sqlite3", "bus.sqlite3-wal"):
        (tmp_path / name).touch(mode=0o644)
    bus = LocalBus(path)
    await bus.start()
    await bus.close()
    assert_private(tmp_path)


async def test_artifacts_and_their_folders_are_private(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "artifacts")
    await store.write("itero/clinic-1/rx/v1/scan_3d/scan.zip", _chunks(), max_bytes=100)
    assert_private(tmp_path)


async def test_state_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_private(state / "tokens" / "itero-clinic-1.json", {"access_token": "x"})
    itero = IteroConnection(id="clinic-1", webhook=WebhookAuth(token="t" * 32), base_url="https://x",
                            token_url="https://x/t", access_token="a", refresh_token="r")
    async with shared_state(Settings(state_dir=state, itero=[itero])) as shared:  # the SQLite store, its key
        await orderindex.remember(shared.state, itero, {"17544001": "rx-guid"})
        tokens = pairing.keeper(shared.keepers, itero)
        await tokens.refresh((await tokens.credentials()).access_token + "-not-current")  # its lock files
        threeshape = ThreeShapeConnection(id="dd", host="dd.local", user="u", password="p")
        await WatchList(shared.state, threeshape).watch(["patient-1"])
    assert_private(tmp_path)


async def test_the_state_store_its_key_and_their_new_folders_are_private(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "var" / "state" / "state.sqlite3")
    await db.open()
    try:
        local_key(tmp_path / "var" / "keys" / "state.sqlite3.key")
        assert_private(tmp_path)
    finally:
        await db.close()


def test_extracted_archive_members_are_private(tmp_path: Path) -> None:
    members = [("scans/upper.stl", b"upper"), ("lower.stl", b"lower")]
    archive = tmp_path / "a.7z"
    archive.write_bytes(build_archive(members))
    archive.chmod(0o600)
    check_and_extract(archive, items_of(members), Limits(10**6, 10), tmp_path / "unpacked" / "a.d")
    assert (tmp_path / "unpacked" / "a.d" / "scans" / "upper.stl").read_bytes() == b"upper"
    assert_private(tmp_path)


def test_the_command_line_sets_a_private_umask_before_any_command_runs() -> None:
    result = CliRunner().invoke(app, ["token"])
    assert result.exit_code == 0
    current = os.umask(0o022)  # reading the umask means setting it; the fixture restores it anyway
    assert current == 0o077
