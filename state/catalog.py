"""The connections a process works with: the state store's, cached in memory (DESIGN.md §7; README
"Running on several hosts").

The TOML seeds the store: a connection it names is written when the store lacks it, or when the TOML's
entry changed and the stored one came from the TOML too; one added or changed at run time
(`scanbridge connections add`) is never overwritten by a TOML. Every `reload_s` the catalog reads the
store's connections revision (one small query) and reloads the connections when it moved, so a change
reaches every running process within `reload_s`. While the store cannot be read the cache answers — at
start, before the store ever answered, the TOML's connections — so a receiver keeps accepting webhooks
for known connections. A stored connection that cannot be read or no longer validates is reported with
its name and left out; it never empties the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from state.base import Connection, ConnectionKey, Connections
from state.errors import CorruptState, StateError, StateUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Parse = Callable[[str, Mapping[str, Any]], Any]  # (vendor, stored settings) → the vendor's model
Reveal = Callable[[Any], dict[str, Any]]  # a model → JSON with its secrets (sealed by the store)
REPORT_EVERY_S = 60.0


class ConnectionCatalog:
    def __init__(self, store: Connections | None, seeds: Iterable[tuple[str, Any]], *, parse: Parse,
                 reveal: Reveal, reload_s: float = 5.0) -> None:
        self._store = store
        self._parse = parse
        self._reveal = reveal
        self.reload_s = reload_s
        self._seeds = {ConnectionKey(vendor, c.id): c for vendor, c in seeds}
        self._items: dict[ConnectionKey, Any] = dict(self._seeds)  # until the store answered: the TOML's
        self._of: dict[tuple[type, str | None], tuple[dict[ConnectionKey, Any], list[Any]]] = {}
        self.revision = -1  # the store revision the cache reflects; -1: never loaded
        self.generation = 0  # grows whenever the cached connections change
        self.unavailable_since: float | None = None  # monotonic; the store did not answer since then
        self._changed = asyncio.Event()
        self._reported = -REPORT_EVERY_S

    # -- reading the cache -------------------------------------------------------------------------
    def get(self, vendor: str, connection_id: str) -> Any | None:
        return self._items.get(ConnectionKey(vendor, connection_id))

    def of(self, kind: type[T], vendor: str | None = None) -> list[T]:
        """The cached connections of model `kind` (of `vendor` only, if given), ordered by key; sorted once
        per version of the cache (every webhook asks: ~5 µs of sorting each, issue 16)."""
        held = self._of.get((kind, vendor))
        if held is None or held[0] is not self._items:
            items = self._items
            chosen = [c for k, c in sorted(items.items())
                      if isinstance(c, kind) and (vendor is None or k.vendor == vendor)]
            held = self._of[(kind, vendor)] = (items, chosen)
        return list(held[1])

    def items(self) -> list[tuple[ConnectionKey, Any]]:
        return sorted(self._items.items())

    async def changed(self, generation: int) -> None:
        """Return once the cache differs from `generation`."""
        while self.generation == generation:
            event = self._changed
            await event.wait()

    # -- the store -----------------------------------------------------------------------------
    async def seed(self) -> int:
        """Write the TOML's connections the store lacks or holds an older TOML version of; how many."""
        if self._store is None:
            return 0
        written = 0
        for key, model in self._seeds.items():
            wanted = self._reveal(model)
            try:
                stored = await self._store.get(key)
            except CorruptState as exc:
                log.error("connection %s in the state store is unreadable, the TOML does not replace it "
                          "(scanbridge connections remove %s, then restart): %s", key, key, exc)
                continue
            if stored is None:
                written += await self._store.put(Connection(key, wanted, "toml"), only_if_absent=True)
            elif stored.source == "toml" and dict(stored.settings) != wanted:
                written += await self._store.put(Connection(key, wanted, "toml"))
                log.info("connection %s updated from the TOML", key)
        return written

    async def load(self) -> bool:
        """Reload when the store's revision moved; True when the cache changed."""
        if self._store is None:
            return False
        revision = await self._store.revision()
        if revision == self.revision:
            return False
        found: dict[ConnectionKey, Any] = {}
        for stored in await self._store.list():
            model = self._model(stored)
            if model is not None:
                found[stored.key] = model
            elif stored.key in self._items:  # unusable now: keep what this process knew
                found[stored.key] = self._items[stored.key]
        self.revision = revision
        if found.keys() != self._items.keys() or any(found[k] != self._items[k] for k in found):
            self._items = found
            self.generation += 1
            self._changed.set()
            self._changed = asyncio.Event()
            return True
        return False

    def _model(self, stored: Connection) -> Any | None:
        try:
            return self._parse(stored.key.vendor, stored.settings)
        except (ValueError, ValidationError) as exc:
            problems = exc.error_count() if isinstance(exc, ValidationError) else 1
            log.error("connection %s in the state store is not a valid %s connection (%d problem(s)); "
                      "left out: fix it with `scanbridge connections add --replace`", stored.key,
                      stored.key.vendor, problems)
            return None

    async def refresh(self) -> bool:
        """`load`, but a store that does not answer keeps the cache (reported once a minute)."""
        try:
            changed = await self.load()
        except StateUnavailable as exc:
            self.note_unavailable(exc)
            return False
        except CorruptState as exc:  # one unreadable row: the message names it; keep the cache
            log.error("connections not reloaded: %s", exc)
            return False
        if self.unavailable_since is not None:
            log.warning("state store answers again after %.0f s; connections reloaded",
                        time.monotonic() - self.unavailable_since)
            self.unavailable_since = None
        return changed

    def note_unavailable(self, exc: StateError) -> None:
        now = time.monotonic()
        if self.unavailable_since is None:
            self.unavailable_since = now
        if now - self._reported >= REPORT_EVERY_S:
            self._reported = now
            log.warning("state store unavailable for %.0f s; working from the %d cached connection(s): %s",
                        now - self.unavailable_since, len(self._items), exc)

    async def run(self, stop: asyncio.Event) -> None:
        """Reload every `reload_s` until `stop`."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.reload_s)
            except TimeoutError:
                await self.refresh()
