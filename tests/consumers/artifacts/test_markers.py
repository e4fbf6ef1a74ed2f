"""Announcement markers live in the state store (issue 13 item 2, issue 12): workers on different hosts —
each with its own working folder, sharing one state store (SQLite and PostgreSQL) — announce each
artifact once; a corrupt marker is reported, never read as "not announced"; retention prunes markers in
the store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bus.base import Bus
from consumers import announced
from consumers.clock import RealClock
from consumers.context import WorkContext
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.publish import Publisher
from consumers.storage import FolderStore, StoredFile
from scanbridge.retention import MARKERS, apply, build_plan
from schemas.events import ArtifactRef, Order
from schemas.settings import BusSettings, RetentionSettings, Settings, StateSettings
from schemas.topics import ARTIFACT_STORED, ORDER_COMPLETED, ORDER_UPDATED, Topics
from state.errors import CorruptState
from tests.consumers.artifacts.test_store import chunks
from tests.events import of_type, read_to_end
from tests.shared import shared_state

SCAN = b"PK\x03\x04" + bytes(range(256)) * 16
Host = Callable[[str], AbstractAsyncContextManager[WorkContext]]


def _order(version: str = "v1", status: str = "scanned") -> Order:
    return Order(vendor="itero", account="42", connection="c", order_id="o-1", stage="scanned",
                 version=version, vendor_status=status, vendor_record={}, updated_at=datetime.now(UTC))


@pytest.fixture(params=["sqlite", "postgres"])
def state_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StateSettings:
    """One state store for every "host" of the test, with the credentials key they all share."""
    key_file = tmp_path / "credentials.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_schema_dsn")
        return StateSettings(backend="postgres", dsn=SecretStr(dsn), credentials_key_file=key_file)
    return StateSettings(backend="sqlite", path=tmp_path / "shared-state.sqlite3",
                         credentials_key_file=key_file)


@pytest.fixture
def host(state_settings: StateSettings, bus: Bus, topics: Topics, tmp_path: Path) -> Host:
    """A worker "host": its own working folder and artifact folder, its own connection to the state store."""

    def open_host(name: str) -> AbstractAsyncContextManager[WorkContext]:
        return _host(name, state_settings, bus, topics, tmp_path)

    return open_host


@asynccontextmanager
async def _host(name: str, state: StateSettings, bus: Bus, topics: Topics,
                tmp_path: Path) -> AsyncIterator[WorkContext]:
    settings = Settings(bus=BusSettings(backend="local", topics=topics), state=state,
                        state_dir=tmp_path / name / "state")
    store = FolderStore(tmp_path / name / "artifacts")
    async with httpx.AsyncClient() as http, shared_state(settings) as shared:
        yield WorkContext(settings=settings, publisher=Publisher(bus, topics), store=store,
                          clock=RealClock(), http=http, shared=shared)


def _job(ctx: WorkContext, fetched: list[str]) -> ArtifactJob:
    async def fetch(relative: str) -> StoredFile | None:
        fetched.append(str(ctx.store.root))
        return await ctx.store.write(relative, chunks(SCAN, 1000), 1 << 20)

    return ArtifactJob(ref=ArtifactRef(kind="scan_3d", vendor_ref="IDE"), file_name="IDE.zip",
                       media_type="application/zip", fetch=fetch)


async def _handle(ctx: WorkContext, order: Order, fetched: list[str]) -> None:
    announced_order = await announce_order(order, "rx-1", ctx)
    await store_artifacts(announced_order, "rx-1", [_job(ctx, fetched)], ctx)


async def test_two_hosts_on_their_own_folders_sharing_one_state_store_announce_each_artifact_once(
    host: Host, bus: Bus, topics: Topics
) -> None:
    """Before: the markers were files beside the artifacts, so host B (another folder) re-announced all."""
    fetched: list[str] = []
    async with host("a") as a, host("b") as b:
        await _handle(a, _order(), fetched)
        await _handle(b, _order(), fetched)  # the same notification, redelivered to another host
        await _handle(a, _order(), fetched)
        await _handle(b, _order("v2", "delivered"), fetched)  # a new version: announced, by host b
        artifact_id = (await announced.get(a.state, _order(), "rx-1", "scan_3d/IDE.zip") or {})["artifact_id"]
        found = await announced.find(b.state, artifact_id)  # what the artifact route looks up
        roots = (str(a.store.root), str(b.store.root))
    events = await read_to_end(bus, [topics.events, topics.artifacts])
    updated = of_type(events, ORDER_UPDATED)
    assert [e.data["version"] for e in updated] == ["v1", "v2"]
    assert updated[1].data["previous_vendor_status"] == "scanned"  # what host a announced for v1
    stored = of_type(events, ARTIFACT_STORED)
    assert [e.data["order"]["version"] for e in stored] == ["v1", "v2"]
    assert len(of_type(events, ORDER_COMPLETED)) == 2
    assert fetched == [roots[0], roots[1]]  # v1 fetched once (by a), v2 once (by b)
    assert found == stored[0].data
    assert await announced.find(b.state, "../../etc/passwd") is None


async def test_a_corrupt_marker_is_reported_with_its_account_and_nothing_is_announced(
    host: Host, bus: Bus, topics: Topics
) -> None:
    fetched: list[str] = []
    async with host("a") as a:
        await _handle(a, _order(), fetched)
        before = len(await read_to_end(bus, [topics.events, topics.artifacts]))
        async with a.state.db.transaction() as tx:  # type: ignore[attr-defined]
            await tx.execute("UPDATE markers SET data = ? WHERE file = ?", "{not json", "scan_3d/IDE.zip")
        with pytest.raises(CorruptState, match="itero/42"):
            await store_artifacts(_order(), "rx-1", [_job(a, fetched)], a)
    assert fetched == [str(a.store.root)]  # not fetched again
    assert len(await read_to_end(bus, [topics.events, topics.artifacts])) == before


async def test_markers_older_than_the_retention_go_and_newer_ones_stay(host: Host) -> None:
    fetched: list[str] = []
    async with host("a") as a:
        await _handle(a, _order(), fetched)
        await _handle(a, _order("v2"), fetched)
        three_days_ago = int((datetime.now(UTC) - timedelta(days=3)).timestamp() * 1000)
        async with a.state.db.transaction() as tx:  # type: ignore[attr-defined]
            await tx.execute("UPDATE markers SET created_ms = ? WHERE version = ?", three_days_ago, "v1")
        plan = await build_plan(RetentionSettings(markers_days=2), a.state, a.store, None, datetime.now(UTC))
        assert plan.totals()[MARKERS][0] == 6  # v1's order, artifact and completion markers, and intents
        assert await announced.get(a.state, _order(), "rx-1", "scan_3d/IDE.zip") is not None  # only planned
        await apply(plan, lambda n: None)
        assert await announced.get(a.state, _order(), "rx-1", "scan_3d/IDE.zip") is None
        assert await announced.get(a.state, _order("v2"), "rx-1", "scan_3d/IDE.zip") is not None
        later = await build_plan(RetentionSettings(markers_days=2), a.state, a.store, None, datetime.now(UTC))
        assert later.totals() == {}
