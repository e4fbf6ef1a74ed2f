"""Node packages for tests: install a folder's locked packages (`npm ci`) once, when `make setup` did not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed (the contract checks and the TypeScript example need it)")
    return found


def npm_installed(folder: Path) -> Path:
    """`folder` with its node_modules as locked in its package-lock.json (like `make setup`)."""
    done = folder / "node_modules" / ".complete"
    lock = folder / "package-lock.json"
    if not done.exists() or done.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=folder, check=True,
                       capture_output=True, timeout=300)
        done.touch()
    return folder
