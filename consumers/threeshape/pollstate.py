"""What the 3Shape poller last saw, per watched patient, persisted across restarts: each case's
normalized version and status and its attached images' TimeStamps, the last poll and the last change
(3shape-dental-desktop-pms-integration.txt, "/GetCasesForPatient": CaseInfo, AttachedImageInfo).
Integration ids are kept on disk only (mode 0600), never logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from consumers.cursor import JsonState
from consumers.records import as_utc
from consumers.storage import safe_component
from consumers.threeshape.watchlist import state_folder


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


@dataclass
class Health:
    """`failing` while the server cannot be polled (untrusted certificate, refused credentials, down)."""

    status: str = "ok"
    since: datetime | None = None
    reason: str | None = None


class PollState:
    def __init__(self, state_dir: Path, connection_id: str) -> None:
        self._file = JsonState(state_folder(state_dir) / f"{safe_component(connection_id)}.poller.json")
        raw = self._file.load()
        patients = raw.get("patients") or {}
        self.patients: dict[str, PatientState] = {
            str(pid): PatientState.load(p) for pid, p in patients.items() if isinstance(p, dict)
        }
        health = raw.get("health") or {}
        self.health = Health(str(health.get("status", "ok")), as_utc(health.get("since")),
                             health.get("reason"))

    def patient(self, integration_id: str) -> PatientState:
        return self.patients.setdefault(integration_id, PatientState())

    def forget_except(self, watched: set[str]) -> None:
        """Forget patients no longer watched (watching again re-announces, with the same event ids)."""
        for pid in [p for p in self.patients if p not in watched]:
            del self.patients[pid]

    def set_health(self, status: str, reason: str | None, now: datetime) -> bool:
        """Record the connection's health; True when it changed."""
        if (self.health.status, self.health.reason) == (status, reason):
            return False
        self.health = Health(status, now, reason)
        return True

    def save(self) -> None:
        self._file.save({
            "health": {"status": self.health.status, "reason": self.health.reason,
                       "since": self.health.since.isoformat() if self.health.since else None},
            "patients": {pid: p.dump() for pid, p in self.patients.items()},
        })
