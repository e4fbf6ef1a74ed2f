"""The deployment files' validators, built by `make setup` (deploy-tools) into var/tools: a missing one
fails the test with what to run, never skips it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from schemas.settings import MIN_HASH_KEY_CHARS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOOLS = ROOT / "var" / "tools"


def tool(name: str) -> Path:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make deploy-tools` (part of `make setup`)")
    return path


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)


STAND_INS = {  # secrets whose shape is checked at load
    "credentials-keys": Fernet.generate_key().decode() + "\n",
    "privacy-hash-key": "h" * MIN_HASH_KEY_CHARS + "\n",
    "console-session-key": "s" * MIN_HASH_KEY_CHARS + "\n",
}


def secret_files(tmp_path: Path, names: list[str]) -> Path:
    """A folder with a stand-in file for each secret a shipped configuration names."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name in names:
        (folder / name).write_text(STAND_INS.get(name, "postgresql://u:p@db:5432/x\n" if "dsn" in name
                                                 else "stand-in\n"))
    return folder
