"""Keep, hash or drop patient fields per deployment (EVENTS.md "the rest")."""

from __future__ import annotations

import hashlib

from schemas.events import Patient


def apply_policy(patient: Patient | None, policy: str) -> Patient | None:
    if patient is None or policy == "keep":
        return patient
    if policy == "drop":
        return None
    hashed = {
        key: hashlib.sha256(value.encode()).hexdigest()[:24] if isinstance(value, str) else value
        for key, value in patient.model_dump().items()
    }
    return Patient(**hashed)
