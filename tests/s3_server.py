"""Start the project's own S3-compatible server (S3Proxy) for a test session, or use the one named by
SCANBRIDGE_S3_ENDPOINT (with SCANBRIDGE_S3_ACCESS_KEY / SCANBRIDGE_S3_SECRET_KEY)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "s3" / "s3proxy.sh"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """A server that cannot start fails the run; it never skips."""
    given = os.environ.get("SCANBRIDGE_S3_ENDPOINT")
    if given:
        yield S3Server(given, os.environ.get("SCANBRIDGE_S3_ACCESS_KEY", "scanbridge"),
                       os.environ.get("SCANBRIDGE_S3_SECRET_KEY", "scanbridge-secret"))
        return
    run_dir = Path(tempfile.mkdtemp(prefix="scanbridge-s3-"))
    server = S3Server("", "test-" + secrets.token_hex(4), secrets.token_urlsafe(24))
    env = {**os.environ, "S3_ACCESS_KEY": server.access_key, "S3_SECRET_KEY": server.secret_key}
    try:
        out = subprocess.run([str(SCRIPT), "start", str(run_dir), "0"], check=True, capture_output=True,
                             text=True, timeout=300, env=env)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"could not start S3Proxy:\n{exc.stdout}\n{exc.stderr}") from exc
    try:
        yield S3Server(out.stdout.strip().splitlines()[-1], server.access_key, server.secret_key)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(run_dir)], check=False, timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)
