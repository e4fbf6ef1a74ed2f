"""What the 3Shape poller last saw, per watched patient: each case's normalized version and status and its
attached images' TimeStamps, the last poll and the last change
(3shape-dental-desktop-pms-integration.txt, "/GetCasesForPatient": CaseInfo, AttachedImageInfo).

Kept in the connection's `patients` map of the state store (DESIGN.md §7: every host and a takeover see the
same), one JSON value per integration id, written fenced by the poller's lease. A value that cannot be read
raises `CorruptState` naming the connection (never the patient), so it is reported, never read as empty.
Integration ids are never logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consumers.records import as_utc
from state.base import ConnectionKey, Lease, StateStore
from state.codec import dumps, loads
from state.errors import CorruptState

PATIENTS = "patients"  # the map: integration id → PatientState as JSON
FORGOTTEN = "{}"


@dataclass
class SeenCase:
    version: str
    status: str
    images: dict[str, str] = field(default_factory=dict)  # image id → TimeStamp (ISO) or ""


@dataclass
class PatientState:
    last_polled_at: datetime | None = None
    last_change_at: datetime | None = None
    cases: dict[str, SeenCase] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return {
            "last_polled_at": self.last_polled_at.isoformat() if self.last_polled_at else None,
            "last_change_at": self.last_change_at.isoformat() if self.last_change_at else None,
            "cases": {cid: c.__dict__ for cid, c in self.cases.items()},
        }

    @classmethod
    def load(cls, raw: dict[str, Any]) -> PatientState:
        cases = {
            str(cid): SeenCase(str(c.get("version", "")), str(c.get("status", "")), dict(c.get("images", {})))
            for cid, c in (raw.get("cases") or {}).items()
            if isinstance(c, dict)
        }
        return cls(as_utc(raw.get("last_polled_at")), as_utc(raw.get("last_change_at")), cases)


class PollState:
    def __init__(self, state: StateStore, key: ConnectionKey) -> None:
        self._state = state
        self.key = key

    async def load(self, integration_ids: Iterable[str]) -> dict[str, PatientState]:
        """What was seen of these patients (those never polled are left out)."""
        found: dict[str, PatientState] = {}
        for pid, text in (await self._state.maps.get(self.key, PATIENTS, integration_ids)).items():
            raw = loads(text, "poll state of a watched patient", self.key)
            if not isinstance(raw, dict):
                raise CorruptState(f"poll state of a watched patient of connection {self.key} "
                                   "is not an object")
            found[pid] = PatientState.load(raw)
        return found

    async def save(self, integration_id: str, patient: PatientState, *, fence: Lease | None) -> None:
        await self._state.maps.put(self.key, PATIENTS, {integration_id: dumps(patient.dump())}, fence=fence)

    async def forget_except(self, watched: set[str], *, fence: Lease | None) -> int:
        """Forget patients no longer watched (watching again announces no case version announced before:
        its marker says so, consumers/announced.py)."""
        stale = {pid: FORGOTTEN for pid, text in (await self._state.maps.items(self.key, PATIENTS)).items()
                 if pid not in watched and text != FORGOTTEN}
        if stale:
            await self._state.maps.put(self.key, PATIENTS, stale, fence=fence)
        return len(stale)
