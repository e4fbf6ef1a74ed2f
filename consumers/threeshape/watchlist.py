"""Which patients of a Dental Desktop server are watched: the configured integration ids, plus those
added and minus those removed by `scanbridge threeshape watch|unwatch` or a `command.watch_patients`
on the commands topic (3shape-dental-desktop-pms-integration.txt, "Concept of patient mapping").

The additions and removals are two ordered sets of the connection in the state store (DESIGN.md §7: the
3Shape watch sets), so the CLI, a command listener and the poller — on any host — see the same list, and
each set operation is one transaction (no change is lost to another writer). A watch file of an
earlier version (`state_dir/threeshape/<connection>.watch.json`) is imported once by the poller and
renamed `….imported`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from consumers.storage import safe_component
from consumers.threeshape.normalize import VENDOR
from schemas.settings import ThreeShapeConnection
from state.base import ConnectionKey, StateStore

log = logging.getLogger(__name__)

MAX_ID_CHARS = 200  # "Any PMS patient entry value can be used as the integration ID"
ADDED, REMOVED = "watch.added", "watch.removed"


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
    def __init__(self, state: StateStore, connection: ThreeShapeConnection) -> None:
        self.configured = clean_ids(connection.patients)
        self._state = state
        self.key = ConnectionKey(VENDOR, connection.id)

    async def ids(self) -> list[str]:
        """The watched integration ids: configured, minus removed, plus added (in that order)."""
        removed = set(await self._state.sets.members(self.key, REMOVED))
        added = await self._state.sets.members(self.key, ADDED)
        return [i for i in self.configured if i not in removed] + [
            i for i in added if i not in self.configured and i not in removed
        ]

    async def watch(self, ids: Iterable[str]) -> list[str]:
        """Watch `ids`; returns those that were not watched before."""
        wanted = clean_ids(ids)
        before = set(await self.ids())
        await self._state.sets.remove(self.key, REMOVED, wanted)
        await self._state.sets.add(self.key, ADDED, [i for i in wanted if i not in self.configured])
        return [i for i in wanted if i not in before]

    async def unwatch(self, ids: Iterable[str]) -> list[str]:
        """Stop watching `ids` (configured ones too, until watched again); returns those that were watched."""
        unwanted = clean_ids(ids)
        before = set(await self.ids())
        await self._state.sets.remove(self.key, ADDED, unwanted)
        await self._state.sets.add(self.key, REMOVED, unwanted)
        return [i for i in unwanted if i in before]

    async def adopt_file(self, state_dir: Path) -> bool:
        """Import the watch file an earlier version kept on disk, then rename it; True when imported. An
        unreadable file is reported and left in place (never read as empty)."""
        path = state_dir / "threeshape" / f"{safe_component(self.key.id)}.watch.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.error("3shape %s: the watch file %s cannot be read (%s); its patients are not imported",
                      self.key.id, path, type(exc).__name__)
            return False
        lists = {name: [str(v) for v in raw.get(name, [])] if isinstance(raw, dict) else []
                 for name in ("added", "removed")}
        await self._state.sets.add(self.key, ADDED, clean_ids(lists["added"]))
        await self._state.sets.add(self.key, REMOVED, clean_ids(lists["removed"]))
        path.rename(path.with_name(path.name + ".imported"))
        log.warning("3shape %s: %d added and %d removed patient(s) imported from %s into the state store",
                    self.key.id, len(lists["added"]), len(lists["removed"]), path)
        return True
