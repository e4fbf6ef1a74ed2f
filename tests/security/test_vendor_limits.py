"""A hostile or broken vendor cannot grow the worker's memory or hold its slots: every JSON/XML answer is
read up to a byte cap (over it: a permanent failure, no further byte read), every API call has an overall
deadline and every download a minimum speed (issue 10 items 7 and 8). No timing is asserted: the outcome
is the error type and how much of the hostile body the server managed to send."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from bus.local import LocalBus
from consumers.errors import AnswerTooLarge, TooSlow
from consumers.itero import pairing
from consumers.meditlink.oauth import password_grant
from consumers.storage import FolderStore
from consumers.threeshape.client import DentalDesktopClient, build_http_client
from consumers.threeshape.tls import pinned_transport
from consumers.tokens import TokenKeepers
from scanbridge.runtime import run_worker
from schemas import ids
from schemas.envelope import Envelope, utcnow
from schemas.events import ScanNotified
from schemas.settings import (
    BusSettings,
    IteroConnection,
    MeditConnection,
    RetrySettings,
    Settings,
    StorageSettings,
    VendorLimits,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import SCAN_NOTIFIED
from simulators.threeshape import TlsFiles
from state.store import SqlStateStore
from tests.events import collect
from tests.security.conftest import Server
from tests.security.test_credentials import itero, medit
from tests.shared import state_store

MiB = 1024**2
RX = str(uuid.uuid4())
ORDER = f"/api/third-party/v2/orders/{RX}"
SMALL_CAP = VendorLimits(max_answer_bytes=1 * MiB)
QUICK = VendorLimits(call_deadline_s=0.5, download_min_bytes_per_s=10_000, download_window_s=0.3)
ENDLESS = 256 * MiB  # what the hostile server would send if it were let
DRIP = 100_000  # bytes the dripping server would send, one every 20 ms: more than half an hour


async def test_an_endless_itero_answer_is_refused_at_the_cap_and_read_no_further(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    vendor.state.endless.add(ORDER)
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = itero(vendor.url, store, http)
        client.limits = SMALL_CAP
        with pytest.raises(AnswerTooLarge):
            await client.get_order(RX)
    assert vendor.state.served_bytes < 32 * MiB  # the cap plus socket buffers, not the 256 MiB


async def test_a_declared_oversized_answer_is_refused_before_its_body_is_read(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    vendor.state.endless.add(ORDER)
    vendor.state.declare = True
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = itero(vendor.url, store, http)
        client.limits = SMALL_CAP
        with pytest.raises(AnswerTooLarge, match=f"answer of {ENDLESS} bytes"):
            await client.get_order(RX)
    assert vendor.state.served_bytes < 32 * MiB


async def test_an_endless_medit_answer_is_refused_at_the_cap(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    vendor.state.endless.add(f"/v1/cases/{RX}")
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = await medit(vendor.url, store, http)
        client.limits = SMALL_CAP
        with pytest.raises(AnswerTooLarge):
            await client.get_case(RX)
    assert vendor.state.served_bytes < 32 * MiB


async def test_an_over_cap_order_fails_the_order_permanently_once(vendor: Server, tmp_path: Path) -> None:
    """In the worker: a dead letter naming the cap after one request, no retry loop, no memory growth."""
    vendor.state.endless.add(ORDER)
    connection = IteroConnection(id="clinic-1", webhook=WebhookAuth(token="t" * 32), base_url=vendor.url,
                                 token_url=f"{vendor.url}/oauth/token", access_token="a", refresh_token="r",
                                 poll=False)
    retry = RetrySettings(initial_delay_s=0.05, max_delay_s=0.1, server_error_for_s=5.0)
    settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                        storage=StorageSettings(root=tmp_path / "artifacts"), state_dir=tmp_path / "state",
                        worker=WorkerSettings(retry=retry, limits=SMALL_CAP), itero=[connection])
    bus = LocalBus(settings.bus.local_path)
    await bus.ensure_topics(settings.bus.topics.all())
    await bus.start()
    notified = ScanNotified(vendor="itero", account="1", connection="clinic-1", rx_id=RX, learned_by="poll",
                            received_at=utcnow(), version="v1")
    await bus.publish(settings.bus.topics.events, Envelope(
        id=ids.event_id(SCAN_NOTIFIED, "itero", "1", RX, "v1"), source=ids.source("itero", "1"),
        type=SCAN_NOTIFIED, subject=RX, time=notified.received_at,
        partitionkey=ids.partition_key("itero", "1", RX), data=notified.model_dump(mode="json")))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, bus, stop))
    try:
        letters = await collect(bus, [settings.bus.topics.deadletter], lambda found: len(found) >= 1)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
        await bus.close()
    assert "exceeds the cap" in letters[0].json_data()["reason"]
    assert len(vendor.state.seen) == 1  # permanent: asked once
    assert vendor.state.served_bytes < 32 * MiB


async def test_a_dripping_api_answer_ends_at_the_call_deadline(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    """One byte every 20 ms never trips a 10 s read timeout; the call deadline ends it."""
    vendor.state.drip.add(ORDER)
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = itero(vendor.url, store, http)
        client.limits = QUICK
        with pytest.raises(TooSlow, match="GET orders"):
            await client.get_order(RX)
    assert vendor.state.served_bytes < DRIP


async def test_a_dripping_medit_answer_ends_at_the_call_deadline(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    vendor.state.drip.add("/v1/orders/3706720")
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = await medit(vendor.url, store, http)
        client.limits = QUICK
        with pytest.raises(TooSlow):
            await client.get_order("3706720")
    assert vendor.state.served_bytes < DRIP


@pytest.mark.parametrize("query", [f"every=0.02&total={DRIP}", "headers_after=30"])
async def test_a_download_under_the_speed_floor_is_abandoned(
    store: SqlStateStore, vendor: Server, tmp_path: Path, query: str
) -> None:
    """A drip of 50 bytes/s against a floor of 10,000 bytes/s per 0.3 s window; or no headers at all."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = itero(vendor.url, store, http)
        client.limits = QUICK
        with pytest.raises(TooSlow, match="bytes/s"):
            await client.download(f"{vendor.url}/drip?{query}", FolderStore(tmp_path / "s"), "a.zip",
                                  max_bytes=10 * MiB, chunk_bytes=64 * 1024)
    assert vendor.state.served_bytes < DRIP
    assert not list((tmp_path / "s").rglob("*.part*"))  # the partial file is gone


async def test_a_download_above_the_speed_floor_completes(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = itero(vendor.url, store, http)
        client.limits = QUICK
        stored = await client.download(f"{vendor.url}/endless?total={4 * MiB}", FolderStore(tmp_path / "s"),
                                       "a.json", max_bytes=10 * MiB, chunk_bytes=64 * 1024)
    assert stored is not None and stored.size >= 4 * MiB


async def test_a_dripping_dental_desktop_server_ends_at_the_call_deadline(
    tls_vendor: Server, tls_files: TlsFiles
) -> None:
    tls_vendor.state.drip.add("/DentalDesktop/WebService/GetAvailableClientList")
    transport = await pinned_transport(tls_vendor.url, tls_files.ca_thumbprint)
    async with build_http_client(tls_vendor.url, transport, "Sam", "qwerty123") as http:
        with pytest.raises(TooSlow):
            await DentalDesktopClient(http, limits=QUICK).get_available_clients()
    assert tls_vendor.state.served_bytes < DRIP


@pytest.mark.parametrize("behaviour", ["endless", "drip"])
async def test_a_hostile_token_endpoint_cannot_grow_memory_or_hold_the_refresh(
    vendor: Server, tmp_path: Path, behaviour: str
) -> None:
    """The refresh-token exchange (authlib reads the answer) has the same cap and deadline."""
    getattr(vendor.state, behaviour).add("/oauth/token")
    connection = IteroConnection(id="c1", webhook=WebhookAuth(token="t" * 32), base_url=vendor.url,
                                 token_url=f"{vendor.url}/oauth/token", access_token="a", refresh_token="r")
    async with state_store(tmp_path) as store:
        tokens = pairing.keeper(TokenKeepers(store), connection, QUICK)
        with pytest.raises(AnswerTooLarge if behaviour == "endless" else TooSlow):
            await tokens.refresh("a")
    assert vendor.state.served_bytes < (32 * MiB if behaviour == "endless" else DRIP)


async def test_a_hostile_medit_token_endpoint_is_capped(vendor: Server) -> None:
    vendor.state.endless.add("/oauth/token")
    connection = MeditConnection(id="lab-1", webhook=WebhookAuth(token="t" * 32), auth_url=vendor.url,
                                 api_url=vendor.url, client_id="c", client_secret="s")
    with pytest.raises(AnswerTooLarge):
        await password_grant(connection, "user", "password")
    assert vendor.state.served_bytes < 32 * MiB
