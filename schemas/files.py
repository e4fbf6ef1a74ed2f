"""Files at rest are private (DESIGN.md §5.5): folders 0700, files 0600, whatever the umask says.

Everything scanbridge writes may hold patient data or credentials (the local bus and its WAL, the
spool, artifacts, markers, state). `scanbridge` sets the umask to 0o077 at start; these helpers also
set the modes explicitly, so a library caller with a looser umask gets private files too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077


def private_umask() -> int:
    """Make every file this process creates owner-only from now on; returns the previous umask."""
    return os.umask(UMASK)


def make_dirs(path: Path) -> None:
    """Create `path` and its missing parents as 0700 folders (existing folders are left as they are)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=DIR_MODE)
            os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """`os.open` with owner-only permissions; an existing file is made 0600 too."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def ensure_private_file(path: Path) -> None:
    """Create `path` empty if missing and make it 0600 (e.g. a SQLite file before SQLite opens it).

    An existing file is only chmod-ed, never opened: closing any descriptor of a file drops every POSIX
    lock this process holds on it, so opening and closing a SQLite database that a connection of this
    process has open would let another process delete its WAL under it (a corrupt database)."""
    try:
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        os.chmod(path, FILE_MODE)


def write_private_text(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, 0600, in a 0700 folder if the folder is new."""
    make_dirs(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(open_private(temp), "w") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
