"""Exactly once on the topic (consumers/announced.py, issue 12 item 7): an event acknowledged by the bus
whose marker could not be written (the state store failed, or the worker died, in between) is not sent
again when the order comes back: the intent recorded before the send sends the worker to the topic, and
the marker is recovered from the event found there. On both buses and both state stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bus.base import Bus
from bus.errors import BusUnavailable
from bus.factory import make_bus
from bus.kafka import KafkaBus
from consumers import announced
from consumers.clock import RealClock
from consumers.context import WorkContext
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.publish import Publisher
from consumers.storage import FolderStore, StoredFile
from schemas.envelope import Envelope
from schemas.events import ArtifactRef, Order
from schemas.settings import BusSettings, KafkaSettings, Settings, StateSettings
from schemas.topics import ARTIFACT_STORED, ORDER_COMPLETED, ORDER_UPDATED, Topics
from state.base import Marker
from state.errors import StateUnavailable
from tests.consumers.artifacts.test_store import chunks
from tests.events import of_type, read_to_end
from tests.shared import shared_state

SCAN = b"PK\x03\x04" + bytes(range(256)) * 16
FILE = "scan_3d/IDE.zip"


def _order() -> Order:
    return Order(vendor="itero", account="42", connection="c", order_id="o-1", stage="scanned", version="v1",
                 vendor_status="scanned", vendor_record={}, updated_at=datetime.now(UTC))


@pytest.fixture(params=["local", "kafka"])
async def any_bus(request: pytest.FixtureRequest, tmp_path: Path, topics: Topics) -> AsyncIterator[Bus]:
    if request.param == "kafka":
        kafka: KafkaSettings = request.getfixturevalue("kafka_settings")
        bus: Bus = KafkaBus(kafka)
    else:
        bus = make_bus(BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3", topics=topics))
    await bus.ensure_topics(topics.all())
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture(params=["sqlite", "postgres"])
def state_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StateSettings:
    key_file = tmp_path / "credentials.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_schema_dsn")
        return StateSettings(backend="postgres", dsn=SecretStr(dsn), credentials_key_file=key_file)
    return StateSettings(backend="sqlite", path=tmp_path / "state.sqlite3", credentials_key_file=key_file)


@asynccontextmanager
async def _worker(bus: Bus, topics: Topics, state: StateSettings,
                  tmp_path: Path) -> AsyncIterator[WorkContext]:
    settings = Settings(bus=BusSettings(backend="local", topics=topics), state=state,
                        state_dir=tmp_path / "s")
    async with httpx.AsyncClient() as http, shared_state(settings) as shared:
        yield WorkContext(settings=settings, publisher=Publisher(bus, topics), clock=RealClock(),
                          store=FolderStore(tmp_path / "a"), http=http, shared=shared)


async def _handle(ctx: WorkContext, fetched: list[int]) -> None:
    """What a vendor handler does with the order: announce it, fetch and announce its one artifact."""

    async def fetch(relative: str) -> StoredFile | None:
        fetched.append(1)
        return await ctx.store.write(relative, chunks(SCAN, 1000), 1 << 20)

    job = ArtifactJob(ref=ArtifactRef(kind="scan_3d", vendor_ref="IDE"), file_name="IDE.zip",
                      media_type="application/zip", fetch=fetch)
    await store_artifacts(await announce_order(_order(), "rx-1", ctx), "rx-1", [job], ctx)


def _failing_once_per_marker(ctx: WorkContext, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first write of each marker (not of an intent) fails after its event was acknowledged, as a
    state store that stops answering, or a worker killed, between the two would leave it."""
    failed: list[str] = []
    markers = ctx.state.markers
    put: Callable[[Marker], Awaitable[bool]] = markers.put_if_absent

    async def put_if_absent(marker: Marker) -> bool:
        file = marker.key.file
        if not file.startswith(announced.INTENT) and file not in failed:
            failed.append(file)
            raise StateUnavailable("the state store did not answer")
        return await put(marker)

    monkeypatch.setattr(markers, "put_if_absent", put_if_absent)
    return failed


async def test_an_event_whose_marker_was_not_written_is_not_sent_again_and_its_marker_is_recovered(
    any_bus: Bus, topics: Topics, state_settings: StateSettings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: each retry sent the event again (3 order.updated, 2 artifact.stored here)."""
    fetched: list[int] = []
    async with _worker(any_bus, topics, state_settings, tmp_path) as ctx:
        failed = _failing_once_per_marker(ctx, monkeypatch)
        for _ in range(3):  # the order.updated marker fails, then the artifact's, then order.completed's
            with pytest.raises(StateUnavailable):
                await _handle(ctx, fetched)
        await _handle(ctx, fetched)  # the redelivery: recovers the last marker, sends nothing
        await _handle(ctx, fetched)  # and once more: every marker is there
        assert failed == [announced.ORDER, FILE, announced.COMPLETED]
        markers = {f: await announced.get(ctx.state, _order(), "rx-1", f)
                   for f in (announced.ORDER, FILE, announced.COMPLETED)}
    events = await read_to_end(any_bus, [topics.events, topics.artifacts])
    [updated] = of_type(events, ORDER_UPDATED)
    [stored] = of_type(events, ARTIFACT_STORED)
    [completed] = of_type(events, ORDER_COMPLETED)
    assert fetched == [1]  # the artifact was found on its topic: not fetched again either
    assert markers[FILE] == stored.data  # recovered from the topic: the event as sent
    assert (markers[announced.ORDER] or {})["version"] == "v1" == updated.json_data()["version"]
    assert (markers[announced.COMPLETED] or {})["event_id"] == completed.id


async def test_an_event_the_bus_never_took_is_sent_on_the_retry_and_an_intent_is_no_marker(
    tmp_path: Path, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = make_bus(BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3", topics=topics))
    await local.ensure_topics(topics.all())
    await local.start()
    state = StateSettings(backend="sqlite", path=tmp_path / "state.sqlite3")
    fetched: list[int] = []
    refused: list[str] = []
    publish = local.publish

    async def publish_refusing_the_artifact_once(topic: str, event: Envelope) -> None:
        if event.type == ARTIFACT_STORED and not refused:
            refused.append(event.id)
            raise BusUnavailable("no acknowledgement")
        await publish(topic, event)

    monkeypatch.setattr(local, "publish", publish_refusing_the_artifact_once)
    try:
        async with _worker(local, topics, state, tmp_path) as ctx:
            with pytest.raises(BusUnavailable):
                await _handle(ctx, fetched)
            _, intent = await announced.lookup(ctx.state, _order(), "rx-1", FILE)
            assert intent is not None and intent["event_id"] == refused[0]
            assert await announced.get(ctx.state, _order(), "rx-1", FILE) is None
            artifact_id: Any = None
            await _handle(ctx, fetched)  # the retry: not on the topic, so sent now
            marker = await announced.get(ctx.state, _order(), "rx-1", FILE) or {}
            artifact_id = marker["artifact_id"]
            assert await announced.find(ctx.state, artifact_id) == marker  # the artifact route: the marker
            latest = await announced.previous_version(ctx.state, _order(), "rx-1")
            assert latest is not None and latest["version"] == "v1"  # a marker, not an intent
        events = await read_to_end(local, [topics.artifacts])
        [stored] = of_type(events, ARTIFACT_STORED)
        assert stored.id == refused[0] and fetched == [1, 1]
    finally:
        await local.close()
