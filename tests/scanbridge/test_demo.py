"""The demo runs on the embedded bus with nothing else installed and ends with files on disk."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from scanbridge.demo import run_demo

ROOT = Path(__file__).resolve().parents[2]


async def test_the_demo_sends_scans_through_and_stores_their_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # where a user runs `make demo`
    assert await run_demo(tmp_path, scans=2, size=50_000, timeout=60) == 0
    files = list((tmp_path / "artifacts").rglob("*.zip"))
    assert len(files) == 5  # 2 × (scan + images) + 1 screen-capture zip
    assert (tmp_path / "bus.sqlite3").exists()

    printed = capsys.readouterr().out.splitlines()
    next_step = printed[-1].strip()  # the command the demo tells the user to run next
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"  # a new shell: the project's virtualenv is not on the PATH
    env["KAFKA_BOOTSTRAP"] = "127.0.0.1:1"  # and a stray setting must not send it elsewhere
    shown = await asyncio.to_thread(subprocess.run, ["bash", "-c", next_step], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    events = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [e["type"] for e in events].count("order.updated") == 2
