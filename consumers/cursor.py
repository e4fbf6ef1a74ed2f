"""Small JSON state files under `state_dir` (poller cursors, connection states), written atomically:
temp file, fsync, rename, so a crash leaves the old or the new state, never half of one (DESIGN.md §3)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JsonState:
    """One JSON object on disk; `load()` gives `{}` when the file is missing or unreadable."""

    def __init__(self, path: Path, *, mode: int = 0o600) -> None:
        self.path = path
        self._mode = mode

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self._mode)
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
