"""Retention over both artifact stores (folder and the project's S3Proxy): what is older than the retention
goes, what is newer stays, a dry run (the plan alone) deletes nothing (issue 13 item 5; markers:
test_markers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.artifacts.base import ArtifactStore, Placement
from consumers.context import WorkContext
from scanbridge.retention import ARTIFACTS, apply, build_plan
from schemas.settings import RetentionSettings, StorageSettings
from tests.consumers.artifacts.test_store import stored

DAY = timedelta(days=1)


async def _stored(store: ArtifactStore, name: str, data: bytes) -> Placement:
    return await stored(store, f"itero/42/rx/v1/scan_3d/{name}", data)


async def test_artifacts_older_than_the_retention_go_and_newer_ones_stay(
    store: ArtifactStore, ctx: WorkContext, read_back: Any
) -> None:
    state = ctx.state
    one = await _stored(store, "one.zip", b"1" * 1000)
    two = await _stored(store, "two.zip", b"2" * 3000)
    now = datetime.now(UTC)
    keep_a_day = RetentionSettings(artifacts_days=1)

    assert (await build_plan(keep_a_day, state, store, None, now)).totals() == {}  # newer
    later = await build_plan(keep_a_day, state, store, None, now + 2 * DAY)
    assert later.totals() == {ARTIFACTS: (2, 4000)}
    assert await read_back(one) == b"1" * 1000  # the plan (a dry run) deleted nothing

    advanced: list[int] = []
    await apply(later, advanced.append)
    assert advanced == [1, 1]
    assert await read_back(one) is None and await read_back(two) is None
    assert (await build_plan(keep_a_day, state, store, None, now + 2 * DAY)).count == 0


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
