"""Retention over both artifact stores (folder and the project's S3Proxy): what is older than the retention
goes, what is newer stays, a dry run (the plan alone) deletes nothing; markers likewise (issue 13 item 5)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.artifacts.base import ArtifactStore, Placement
from scanbridge.retention import ARTIFACTS, MARKERS, apply, build_plan, expired_markers
from schemas.settings import RetentionSettings, StorageSettings
from tests.consumers.artifacts.test_store import stored

DAY = timedelta(days=1)


async def _stored(store: ArtifactStore, name: str, data: bytes) -> Placement:
    return await stored(store, f"itero/42/rx/v1/scan_3d/{name}", data)


async def test_artifacts_older_than_the_retention_go_and_newer_ones_stay(
    store: ArtifactStore, storage_settings: StorageSettings, read_back: Any
) -> None:
    one = await _stored(store, "one.zip", b"1" * 1000)
    two = await _stored(store, "two.zip", b"2" * 3000)
    now = datetime.now(UTC)
    keep_a_day = RetentionSettings(artifacts_days=1)

    assert (await build_plan(keep_a_day, storage_settings.root, store, None, now)).totals() == {}  # newer
    later = await build_plan(keep_a_day, storage_settings.root, store, None, now + 2 * DAY)
    assert later.totals() == {ARTIFACTS: (2, 4000)}
    assert await read_back(one) == b"1" * 1000  # the plan (a dry run) deleted nothing

    advanced: list[int] = []
    await apply(later, advanced.append)
    assert advanced == [1, 1]
    assert await read_back(one) is None and await read_back(two) is None
    assert (await build_plan(keep_a_day, storage_settings.root, store, None, now + 2 * DAY)).count == 0


async def test_deleting_one_old_artifact_keeps_the_others(
    store: ArtifactStore, storage_settings: StorageSettings, read_back: Any
) -> None:
    old = await _stored(store, "old.zip", b"o" * 500)
    new = await _stored(store, "new.zip", b"n" * 700)
    # LastModified cannot be set on an object store: both are old a day on; deleting one keeps the other.
    aged = await store.older_than(datetime.now(UTC) + DAY)
    assert {a.key for a in aged} == {old.key, new.key}
    await store.delete(old.key)
    assert await read_back(old) is None and await read_back(new) == b"n" * 700
    assert {a.key for a in await store.older_than(datetime.now(UTC) + DAY)} == {new.key}


async def test_markers_older_than_the_retention_go_and_newer_ones_stay(
    store: ArtifactStore, storage_settings: StorageSettings
) -> None:
    store.write_marker("itero/42/rx/v1/scan_3d/old.zip", {"announced": True})
    store.write_marker("itero/42/rx/v1/scan_3d/new.zip", {"announced": True})
    store.write_marker(".artifacts/0b7f6c1e-1111-4222-8333-444455556666", {"artifact_id": "x"})
    root = storage_settings.root
    three_days_ago = (datetime.now(UTC) - 3 * DAY).timestamp()
    for marker in root.rglob(".*.stored.json"):
        if "new.zip" not in marker.name:
            os.utime(marker, (three_days_ago, three_days_ago))
    plan = await build_plan(RetentionSettings(markers_days=2), root, store, None, datetime.now(UTC))
    assert plan.totals()[MARKERS][0] == 2
    assert store.read_marker("itero/42/rx/v1/scan_3d/old.zip") is not None  # planned, not yet deleted
    await apply(plan, lambda n: None)
    assert store.read_marker("itero/42/rx/v1/scan_3d/old.zip") is None
    assert store.read_marker("itero/42/rx/v1/scan_3d/new.zip") == {"announced": True}
    assert await expired_markers(root, datetime.now(UTC) - DAY) == []
