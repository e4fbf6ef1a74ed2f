"""The command log (DESIGN.md §7, §10): one record per `command_id`, written "started" before the vendor is
called, so a command delivered twice calls the vendor at most once.

Built on the state store's versioned entries (compare-and-set), so it lives in both backends with no table
of its own: records under one store-wide key (`LOG`), named by command id; the vendor ids a later vendor
answer is matched by (a Medit file uuid → its upload command) in a map of the connection.

    claim   → (True, record): new; the caller owns the command and may call the vendor
            → (False, record): seen before (finished, waiting for the vendor, or interrupted)
    update  → compare-and-set on the version read; a lost race raises VersionConflict
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from state.base import ConnectionKey, StateStore
from state.errors import VersionConflict

LOG = ConnectionKey("scanbridge", "command-log")
Phase = Literal["started", "awaiting_vendor", "succeeded", "failed"]
TERMINAL: tuple[Phase, ...] = ("succeeded", "failed")


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    type: str
    vendor: str
    connection: str
    subject: str
    partitionkey: str
    fingerprint: str  # of type, connection and data: a reused command_id is told apart
    phase: Phase = "started"
    started_at: str = ""
    updated_at: str = ""
    progress: dict[str, Any] = field(default_factory=dict)  # what the vendor answered so far (file uuid…)
    result: dict[str, Any] | None = None  # the result event's data, once finished
    version: int = 0  # set by the store

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("version")
        return data


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _record(value: Any, version: int) -> CommandRecord:
    known = {k: v for k, v in dict(value).items() if k in CommandRecord.__dataclass_fields__}
    return CommandRecord(**known, version=version)


class CommandLog:
    def __init__(self, state: StateStore) -> None:
        self._state = state

    async def get(self, command_id: str) -> CommandRecord | None:
        entry = await self._state.entries.get(LOG, command_id)
        return None if entry is None else _record(entry.value, entry.version)

    async def recent(self, limit: int = 100) -> list[CommandRecord]:
        """The latest changed commands first (the console's Commands page); reads the whole log."""
        found = [_record(e.value, e.version) for e in (await self._state.entries.all(LOG)).values()]
        return sorted(found, key=lambda r: r.updated_at, reverse=True)[:limit]

    async def claim(self, record: CommandRecord) -> tuple[bool, CommandRecord]:
        """Write `record` as "started" if its id is new: (True, it); else (False, the record there)."""
        now = _now()
        fresh = replace(record, phase="started", started_at=now, updated_at=now)
        try:
            version = await self._state.entries.put(LOG, record.command_id, fresh.as_json(), if_version=0)
        except VersionConflict:
            existing = await self.get(record.command_id)
            if existing is None:  # claimed and forgotten in between: try once more
                return await self.claim(record)
            return False, existing
        return True, replace(fresh, version=version)

    async def update(self, record: CommandRecord, **changes: Any) -> CommandRecord:
        """Write `changes` over `record` if nobody changed it since it was read (VersionConflict if so)."""
        changed = replace(record, **changes, updated_at=_now())
        version = await self._state.entries.put(LOG, record.command_id, changed.as_json(),
                                                if_version=record.version)
        return replace(changed, version=version)

    async def link(self, vendor: str, connection: str, kind: str, vendor_id: str, command_id: str) -> None:
        """Remember that the vendor's later answer about `vendor_id` belongs to `command_id`."""
        await self._state.maps.put(ConnectionKey(vendor, connection), f"commands:{kind}",
                                   {vendor_id: command_id})

    async def links(self, vendor: str, connection: str, kind: str) -> dict[str, str]:
        """Every `vendor_id → command_id` of that kind the connection's commands made."""
        return await self._state.maps.items(ConnectionKey(vendor, connection), f"commands:{kind}")

    async def linked(self, vendor: str, connection: str, kind: str, vendor_id: str) -> str | None:
        found = await self._state.maps.get(ConnectionKey(vendor, connection), f"commands:{kind}", [vendor_id])
        return found.get(vendor_id)
