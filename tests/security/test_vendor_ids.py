"""A vendor id — from a webhook, a poll answer or an order record — enters a URL as one escaped path
segment: it never changes the path or the query the vendor receives (issue 10 item 5; DESIGN.md §5.6).
The server records the path as it arrived on the wire."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from consumers.errors import InvalidId, NotFound, NotReady
from consumers.storage import FolderStore
from state.store import SqlStateStore
from tests.security.conftest import Server
from tests.security.test_credentials import itero, medit

HOSTILE = {
    "../../x": "..%2F..%2Fx",
    "1?admin=true#": "1%3Fadmin%3Dtrue%23",
    "a/../../b": "a%2F..%2F..%2Fb",
    "%2e%2e": "%252e%252e",
    "x y#z": "x%20y%23z",
}


@pytest.mark.parametrize("rx_id", sorted(HOSTILE))
async def test_an_itero_rx_id_stays_inside_its_path_segment(
    store: SqlStateStore, vendor: Server, tmp_path: Path, rx_id: str
) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(NotReady):  # the hostile server knows no such order: 404
            await itero(vendor.url, store, http).get_order(rx_id)
    seen, = vendor.state.seen
    assert (seen.raw_path, seen.query) == (f"/api/third-party/v2/orders/{HOSTILE[rx_id]}", "")


async def test_an_order_id_from_the_vendors_order_record_is_escaped_in_download_links(
    store: SqlStateStore, vendor: Server, tmp_path: Path
) -> None:
    """OrderId comes from the order JSON (Get Order by RX ID): the documented download path built from it
    cannot be bent to another resource."""
    async with httpx.AsyncClient() as http:
        client = itero(vendor.url, store, http)
        url = client.asset_url("../../../blob?x=", "IDE", None)
        capture = client.capture_url("7", "../../blob#")
        for link in (url, capture):
            with pytest.raises(NotReady):  # 404: the escaped path names nothing
                await client.download(link, FolderStore(tmp_path / "s"), "a.zip", max_bytes=1024,
                                      chunk_bytes=64)
    assert [(s.raw_path, s.query) for s in vendor.state.seen] == [
        ("/api/third-party/v2/order/..%2F..%2F..%2Fblob%3Fx%3D/download/IDE", ""),
        ("/api/third-party/v2/order/7/download/SCREEN_CAPTURE/..%2F..%2Fblob%23", ""),
    ]


@pytest.mark.parametrize("call", ["get_order", "get_case", "get_file"])
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
async def test_medit_ids_stay_inside_their_path_segment(
    store: SqlStateStore, vendor: Server, tmp_path: Path, call: str, hostile: str
) -> None:
    async with httpx.AsyncClient() as http:
        client = await medit(vendor.url, store, http)
        with pytest.raises(NotFound):
            await (client.get_file(hostile, "stl") if call == "get_file" else getattr(client, call)(hostile))
    resource = {"get_order": "orders", "get_case": "cases", "get_file": "files"}[call]
    seen, = vendor.state.seen
    assert seen.raw_path == f"/v1/{resource}/{HOSTILE[hostile]}"
    assert "admin" not in seen.query


@pytest.mark.parametrize("bad", ["", ".", "..", "\ud800", "x" * 600])
async def test_ids_no_escaping_can_make_harmless_are_refused_before_any_request(
    store: SqlStateStore, vendor: Server, tmp_path: Path, bad: str
) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(InvalidId):
            await itero(vendor.url, store, http).get_order(bad)
        with pytest.raises(InvalidId):
            await (await medit(vendor.url, store, http)).get_case(bad)
    assert vendor.state.seen == []
