"""Start a throw-away PostgreSQL server for a test session (or use SCANBRIDGE_POSTGRES_DSN)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "postgres" / "postgres.sh"


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a DSN. A server that cannot start fails the run (with the script's reason); it never skips."""
    given = os.environ.get("SCANBRIDGE_POSTGRES_DSN")
    if given:
        yield given
        return
    run_dir = Path(tempfile.mkdtemp(prefix="scanbridge-pg-"))
    env = {**os.environ, "PG_FSYNC": "off"}  # nothing of a test run must survive a power cut
    try:
        out = subprocess.run([str(SCRIPT), "start", str(run_dir)], check=True, capture_output=True,
                             text=True, timeout=300, env=env)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL:\n{exc.stderr}") from exc
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(SCRIPT), "stop", str(run_dir)], check=False, timeout=120)
        shutil.rmtree(run_dir, ignore_errors=True)
