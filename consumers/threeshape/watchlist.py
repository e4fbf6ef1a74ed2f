"""Which patients of a Dental Desktop server are watched: the configured integration ids, plus those
added and minus those removed by `scanbridge threeshape watch|unwatch` or a `command.watch_patients`
on the commands topic (3shape-dental-desktop-pms-integration.txt, "Concept of patient mapping").

Persisted per connection in `state_dir/threeshape/<connection>.watch.json`, written atomically under an
exclusive file lock, so the CLI and a running poller never lose each other's changes.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from consumers.cursor import JsonState
from consumers.storage import safe_component
from schemas.files import make_dirs, open_private
from schemas.settings import ThreeShapeConnection

MAX_ID_CHARS = 200  # "Any PMS patient entry value can be used as the integration ID"


def state_folder(state_dir: Path) -> Path:
    return state_dir / "threeshape"


def clean_ids(ids: Iterable[str]) -> list[str]:
    """Stripped, non-empty, bounded ids in first-seen order; values stay case sensitive (doc)."""
    cleaned: list[str] = []
    for raw in ids:
        value = raw.strip()
        if not value or len(value) > MAX_ID_CHARS or any(ord(ch) < 32 for ch in value):
            raise ValueError("an integration id is 1–200 printable characters")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


class WatchList:
    def __init__(self, state_dir: Path, connection: ThreeShapeConnection) -> None:
        self.configured = clean_ids(connection.patients)
        folder = state_folder(state_dir)
        name = safe_component(connection.id)
        self._file = JsonState(folder / f"{name}.watch.json")
        self._lock = folder / f".{name}.watch.lock"

    @contextmanager
    def _locked(self) -> Iterator[dict[str, list[str]]]:
        make_dirs(self._lock.parent)
        with os.fdopen(open_private(self._lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                raw = self._file.load()
                data = {key: [str(v) for v in raw.get(key, [])] for key in ("added", "removed")}
                before = {key: list(values) for key, values in data.items()}
                yield data
                if data != before:
                    self._file.save(data)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ids(self) -> list[str]:
        """The watched integration ids: configured, minus removed, plus added (in that order)."""
        with self._locked() as data:
            removed = set(data["removed"])
            return [i for i in self.configured if i not in removed] + [
                i for i in data["added"] if i not in self.configured and i not in removed
            ]

    def watch(self, ids: Iterable[str]) -> list[str]:
        """Watch `ids`; returns those that were not watched before."""
        wanted = clean_ids(ids)
        before = set(self.ids())
        with self._locked() as data:
            data["removed"] = [i for i in data["removed"] if i not in wanted]
            data["added"] += [i for i in wanted if i not in self.configured and i not in data["added"]]
        return [i for i in wanted if i not in before]

    def unwatch(self, ids: Iterable[str]) -> list[str]:
        """Stop watching `ids` (configured ones too, until watched again); returns those that were watched."""
        unwanted = clean_ids(ids)
        before = set(self.ids())
        with self._locked() as data:
            data["added"] = [i for i in data["added"] if i not in unwanted]
            data["removed"] += [i for i in unwanted if i not in data["removed"]]
        return [i for i in unwanted if i in before]
