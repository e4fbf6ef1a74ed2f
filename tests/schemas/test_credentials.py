"""Private files are written atomically, owner-only, and a failed write leaves nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from schemas.credentials import write_private


def test_a_private_file_is_owner_only_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "tokens" / "t.json"
    write_private(path, {"a": 1})
    write_private(path, {"a": 2})
    assert path.read_text() == '{"a": 2}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.json"]


def test_a_failed_private_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.json"
    write_private(path, {"a": 1})

    def full_disk(fd: int) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="no space"):
        write_private(path, {"a": 2})
    assert path.read_text() == '{"a": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
