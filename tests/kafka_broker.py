"""Start the project's own Kafka broker for a test session or a benchmark (or use KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"


@contextmanager
def kafka_broker() -> Iterator[str]:
    """Yield a bootstrap address. In CI a broker that cannot start fails the run; it never skips."""
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    run_dir = Path(tempfile.mkdtemp(prefix="scanbridge-kafka-"))
    try:
        out = subprocess.run(
            [str(SCRIPT), "start", str(run_dir), "0"],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"could not start Kafka:\n{exc.stdout}\n{exc.stderr}") from exc
    try:
        yield out.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(SCRIPT), "stop", str(run_dir)], check=False, timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)
