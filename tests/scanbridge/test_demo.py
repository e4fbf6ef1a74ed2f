"""The demo runs on the embedded bus with nothing else installed and ends with files on disk."""

from __future__ import annotations

from pathlib import Path

from scanbridge.demo import run_demo


async def test_the_demo_sends_scans_through_and_stores_their_files(tmp_path: Path) -> None:
    assert await run_demo(tmp_path, scans=2, size=50_000, timeout=60) == 0
    files = list((tmp_path / "artifacts").rglob("*.zip"))
    assert len(files) == 5  # 2 × (scan + images) + 1 screen-capture zip
    assert (tmp_path / "bus.sqlite3").exists()
