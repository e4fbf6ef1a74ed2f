"""Build the configured artifact store (`storage.backend`, DESIGN.md §8)."""

from __future__ import annotations

from consumers.artifacts.base import ArtifactStore
from consumers.artifacts.s3 import S3Store
from consumers.clock import Clock
from consumers.storage import FolderStore
from schemas.settings import RetrySettings, StorageSettings


def make_store(settings: StorageSettings, *, policy: RetrySettings, clock: Clock) -> ArtifactStore:
    if settings.backend == "s3":
        return S3Store(settings.s3, settings.root, policy=policy, clock=clock)
    return FolderStore(settings.root)
