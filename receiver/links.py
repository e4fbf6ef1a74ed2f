"""Which vendor ids a command made, held in memory per connection: the iTero webhook asks it on every
notification, and almost every Rx was made by a person at the scanner, not by a `scan_request`.

Reading the state store there cost two reads per webhook (about 1 ms of CPU on the loaded bench machine,
three times the rest of the route, README "Benchmarks"). Here a connection's links are read once and then
again when older than `state.reload_s`, so a webhook for an Rx that no command made reads nothing. A link made
less than `reload_s` ago may be missed: the notification then carries no `command_id`. A scan follows its
scan request by minutes, so the bound is documented rather than chased. When the store does not answer, the
links already read are used (as the connections catalog does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from state.base import StateStore
from state.commandlog import CommandLog, CommandRecord
from state.errors import StateError

log = logging.getLogger(__name__)


class LinkCache:
    """`vendor_id → command_id` per (vendor, connection, kind), reloaded when older than `max_age_s`."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age_s = max_age_s
        self._clock = clock
        self._links: dict[tuple[str, str, str], tuple[float, dict[str, str]]] = {}
        self._lock = asyncio.Lock()

    async def match(self, state: StateStore, vendor: str, connection: str, kind: str,
                    vendor_id: str | None) -> CommandRecord | None:
        """The command that made `vendor_id`, if one did (None also when the store does not answer)."""
        if not vendor_id:
            return None
        links = await self._links_of(state, (vendor, connection, kind))
        command_id = links.get(vendor_id)
        if command_id is None:
            return None
        try:
            return await CommandLog(state).get(command_id)
        except StateError as exc:
            log.warning("%s %s not matched to its command: state store %s", vendor, kind, type(exc).__name__)
            return None

    async def _links_of(self, state: StateStore, key: tuple[str, str, str]) -> dict[str, str]:
        held = self._links.get(key)
        if held is not None and self._clock() - held[0] < self._max_age_s:
            return held[1]
        async with self._lock:  # one reload at a time, not one per webhook waiting
            held = self._links.get(key)
            if held is not None and self._clock() - held[0] < self._max_age_s:
                return held[1]
            try:
                links = await CommandLog(state).links(*key)
            except StateError as exc:
                log.warning("command links of %s/%s not reloaded: state store %s", key[0], key[1],
                            type(exc).__name__)
                links = held[1] if held is not None else {}
            self._links[key] = (self._clock(), links)
            return links
