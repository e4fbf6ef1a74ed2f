"""Find a stored artifact by its `artifact_id` (the artifact route's id): the announced
`artifact.stored` data is kept once more under `.artifacts/<id>`, beside the markers, until the state
store holds both. Anything that is not a canonical UUID names nothing (no path is built from it)."""

from __future__ import annotations

import uuid
from typing import Any

from consumers.artifacts.base import ArtifactStore

FOLDER = ".artifacts"


def _canonical(artifact_id: str) -> str | None:
    try:
        parsed = uuid.UUID(artifact_id)
    except (ValueError, AttributeError, TypeError):
        return None
    return str(parsed) if str(parsed) == artifact_id else None


def remember(store: ArtifactStore, artifact: dict[str, Any]) -> None:
    artifact_id = _canonical(str(artifact.get("artifact_id")))
    if artifact_id is not None:
        store.write_marker(f"{FOLDER}/{artifact_id}", artifact)


def find(store: ArtifactStore, artifact_id: str) -> dict[str, Any] | None:
    canonical = _canonical(artifact_id)
    return store.read_marker(f"{FOLDER}/{canonical}") if canonical is not None else None
