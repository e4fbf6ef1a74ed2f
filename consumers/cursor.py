"""Small JSON state files under `state_dir` (poller cursors, connection states), written atomically:
temp file, fsync, rename, so a crash leaves the old or the new state, never half of one (DESIGN.md §3)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from schemas.files import make_dirs, open_private


class JsonState:
    """One JSON object on disk; `load()` gives `{}` when the file is missing or unreadable."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        make_dirs(self.path.parent)
        temp = self.path.with_name(f".{self.path.name}.tmp")
        fd = open_private(temp)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, default=str, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def all_states(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(file stem, content) of every state file in `folder`, sorted by name."""
    if not folder.is_dir():
        return []
    return [(p.stem, JsonState(p).load()) for p in sorted(folder.glob("*.json"))]
