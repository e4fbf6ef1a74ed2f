"""Credentials encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256) with several keys for rotation.

Keys come from an environment variable or a secret file, never from the TOML: one or more Fernet keys
(`scanbridge state-key` or `Fernet.generate_key()`), separated by commas, blanks or new lines, newest
first. New rows are sealed with the first key; a row opens with any of them. To rotate: put the new key
first and keep the old one after it, restart, call `CredentialStore.reseal()` (every sealed row is
rewritten with the new key), then drop the old key. A single-host SQLite store without a configured key
makes one on first start in a 0600 file beside its database.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from schemas.files import make_dirs
from state.errors import KeyMissing


class Sealer:
    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise KeyMissing("no credentials key")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except ValueError as exc:  # the key itself is never part of the message
            raise KeyMissing("a credentials key is not a Fernet key (32 url-safe base64 bytes)") from exc
        self._primary = Fernet(keys[0])

    def seal(self, data: bytes) -> str:
        return self._fernet.encrypt(data).decode("ascii")

    def open(self, token: str) -> bytes:
        """The plaintext; raises InvalidToken when no configured key opens it (or it was altered)."""
        return self._fernet.decrypt(token.encode("ascii"))

    def is_current(self, token: str) -> bool:
        """True when the newest key opens `token` (so `reseal` may leave it alone)."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reseal(self, token: str) -> str:
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def parse_keys(text: str) -> list[str]:
    return [k for k in re.split(r"[\s,]+", text) if k and not k.startswith("#")]


def load_keys(
    env_name: str | None, key_file: Path | None, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """Keys from the environment variable `env_name`, else from `key_file`; [] when neither is set."""
    if env_name and environ.get(env_name, "").strip():
        return parse_keys(environ[env_name])
    if key_file is not None:
        try:
            lines = key_file.read_text().splitlines()
        except OSError as exc:
            raise KeyMissing(f"credentials key file {key_file} unreadable: {exc.strerror}") from exc
        return parse_keys("\n".join(line for line in lines if not line.lstrip().startswith("#")))
    return []


def local_key(path: Path) -> list[str]:
    """The key of a single-host store: read from `path`, or made there (0600) on first use."""
    try:
        return parse_keys(path.read_text())
    except FileNotFoundError:
        pass
    make_dirs(path.parent)  # new folders 0700 (DESIGN.md §5.5)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)  # appears whole or not at all; a process that linked first wins
        except FileExistsError:
            pass
    finally:
        temp.unlink(missing_ok=True)
    return parse_keys(path.read_text())
