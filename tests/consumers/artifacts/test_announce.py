"""The pipeline on both stores: `artifact.stored` says exactly how to fetch the bytes; bytes that fail
the vendor check, or that an unreachable S3 store never took, are never placed nor announced."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.base import Bus
from consumers import announced
from consumers.artifacts.base import Placement
from consumers.artifacts.factory import make_store
from consumers.clock import RealClock
from consumers.context import WorkContext
from consumers.errors import ArtifactRejected, ArtifactsFailed
from consumers.pipeline import ArtifactJob, store_artifacts
from consumers.publish import Publisher
from consumers.storage import StoredFile
from schemas import ids
from schemas.events import ArtifactRef, Order, StoredArtifact, VendorChecksum
from schemas.settings import BusSettings, Settings, StorageSettings
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED, ORDER_COMPLETED, Topics
from tests.consumers.artifacts.conftest import FAST, s3_settings_for
from tests.consumers.artifacts.test_store import chunks
from tests.events import collect
from tests.s3_server import S3Server
from tests.shared import shared_state

SCAN = b"PK\x03\x04" + bytes(range(256)) * 64


def _order() -> Order:
    return Order(vendor="itero", account="42", connection="c", order_id="o-1", stage="scanned",
                 version="v1", vendor_record={}, updated_at=datetime.now(UTC))


def _job(ctx: WorkContext, body: bytes, verify: Any = None) -> ArtifactJob:
    async def fetch(relative: str) -> StoredFile | None:
        return await ctx.store.write(relative, chunks(body, 1 << 16), len(body))

    return ArtifactJob(ref=ArtifactRef(kind="scan_3d", vendor_ref="IDE"), file_name="IDE.zip",
                       media_type="application/zip", fetch=fetch, verify=verify)


async def test_artifact_stored_says_where_and_how_to_fetch(
    ctx: WorkContext, bus: Bus, topics: Topics, read_back: Any, storage_settings: StorageSettings
) -> None:
    await store_artifacts(_order(), "rx-1", [_job(ctx, SCAN)], ctx)

    [event, completed] = await collect(bus, [topics.artifacts], lambda e: len(e) >= 2)
    assert event.type == ARTIFACT_STORED and completed.type == ORDER_COMPLETED
    stored = StoredArtifact.model_validate(event.data)
    assert stored.sha256 == hashlib.sha256(SCAN).hexdigest() and stored.size == len(SCAN)
    assert stored.artifact_id == ids.artifact_id("itero", "42", "rx-1", "v1", "scan_3d", "IDE.zip")
    assert stored.key is not None and stored.key.endswith("itero/42/rx-1/v1/scan_3d/IDE.zip")
    if storage_settings.backend == "s3":
        assert stored.bucket == storage_settings.s3.bucket and stored.etag
        assert stored.storage_uri == f"s3://{stored.bucket}/{stored.key}"
    else:
        assert stored.bucket is None and stored.storage_uri.startswith("file:///")
    where = Placement(uri=stored.storage_uri, key=stored.key, sha256="", size=0, bucket=stored.bucket)
    assert await read_back(where) == SCAN
    assert await announced.get(ctx.state, _order(), "rx-1", "scan_3d/IDE.zip") == event.data


async def test_bytes_failing_the_vendor_check_are_neither_placed_nor_announced(
    ctx: WorkContext, bus: Bus, topics: Topics, read_back: Any, storage_settings: StorageSettings
) -> None:
    checked: list[bytes] = []

    def not_a_zip(staged: StoredFile) -> VendorChecksum | None:
        checked.append(staged.head)  # all of it: shorter than the 64 KiB head
        raise ArtifactRejected("downloaded asset is not a zip archive")

    with pytest.raises(ArtifactsFailed):  # the notification is dead-lettered, so a retry fetches it
        await store_artifacts(_order(), "rx-1", [_job(ctx, b"<html>oops</html>", not_a_zip)], ctx)

    [event, completed] = await collect(bus, [topics.artifacts], lambda e: len(e) >= 2)
    assert event.type == ARTIFACT_FAILED and completed.type == ORDER_COMPLETED
    assert checked == [b"<html>oops</html>"]
    key = f"{storage_settings.s3.prefix}itero/42/rx-1/v1/scan_3d/IDE.zip"
    uri = (f"s3://{storage_settings.s3.bucket}/{key}" if storage_settings.backend == "s3"
           else (storage_settings.root / "itero/42/rx-1/v1/scan_3d/IDE.zip").resolve().as_uri())
    assert await read_back(Placement(uri=uri, key=key, sha256="", size=0,
                                     bucket=storage_settings.s3.bucket)) is None
    assert await announced.get(ctx.state, _order(), "rx-1", "scan_3d/IDE.zip") is None


@pytest.mark.parametrize("size", [len(SCAN), 6 * 1024 * 1024], ids=["one PUT", "multipart"])
async def test_an_unreachable_s3_store_is_retried_then_the_artifact_fails_and_nothing_is_stored(
    size: int, s3: S3Server, bus: Bus, topics: Topics, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    storage = StorageSettings(backend="s3", root=tmp_path / "root",
                              s3=s3_settings_for(s3, tmp_path / "secrets", endpoint=closed))
    settings = Settings(bus=BusSettings(backend="local", topics=topics), storage=storage,
                        state_dir=tmp_path / "state")
    store = make_store(storage, policy=FAST, clock=RealClock())
    await store.start()
    try:
        async with httpx.AsyncClient() as http, shared_state(settings) as shared:
            ctx = WorkContext(settings=settings, publisher=Publisher(bus, topics), store=store,
                              clock=RealClock(), http=http, shared=shared)
            with pytest.raises(ArtifactsFailed):
                await store_artifacts(_order(), "rx-1", [_job(ctx, SCAN * (size // len(SCAN)))], ctx)
            assert await announced.get(ctx.state, _order(), "rx-1", "scan_3d/IDE.zip") is None
    finally:
        await store.close()
    [event, completed] = await collect(bus, [topics.artifacts], lambda e: len(e) >= 2)
    assert event.type == ARTIFACT_FAILED and completed.type == ORDER_COMPLETED  # no artifact.stored
    assert event.data["reason"].startswith("S3 ") and "gave up after" in event.data["reason"]
