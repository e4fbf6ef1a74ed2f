"""One id, one spelling; one folder per id (issue 10, items 11 and 12).

An Rx GUID written `{…}`, `urn:uuid:…`, without dashes or in upper case names the same scan: same
subject, partition key and store folder. Two different ids never share a store folder, however they
clean up (`A/1` and `A_1`, long ids with a common prefix)."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bus.local import LocalBus
from consumers.itero.normalize import normalize
from consumers.pipeline import order_folder
from consumers.storage import FolderStore, safe_component
from scanbridge.receiving import create_app
from schemas.events import Order
from schemas.ids import canonical_guid, rx_key
from schemas.settings import BusSettings, IteroConnection, Settings, WebhookAuth
from schemas.topics import INBOUND_RECEIVED, SCAN_NOTIFIED, Topics
from tests.events import collect
from tests.servers import serve

GUID = "8683e5e5-a9fe-47ff-96e8-2bd9aab41d23"
SPELLINGS = [GUID, GUID.upper(), "{" + GUID.upper() + "}", f"urn:uuid:{GUID}", GUID.replace("-", ""),
             " {" + GUID + "} "]
TOKEN = secrets.token_urlsafe(32)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_guid_has_one_canonical_form(spelling: str) -> None:
    assert canonical_guid(spelling) == GUID and rx_key(spelling) == GUID


def test_a_value_that_is_no_guid_is_kept_as_given() -> None:
    assert canonical_guid("17544001") is None and rx_key(" 17544001 ") == "17544001"


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_order_record_names_its_rx_id_in_the_one_spelling(spelling: str) -> None:
    order = normalize({"RxId": spelling, "Status": "Completed"}, vendor="itero", account="1",
                      connection="c", resolve_link=lambda order_id, asset, link: "https://h/x")
    assert order.rx_id == GUID


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, LocalBus, Topics]]:
    topics = Topics()
    bus = LocalBus(tmp_path / "bus.sqlite3")
    await bus.ensure_topics(topics.all())
    await bus.start()
    settings = Settings(
        bus=BusSettings(backend="local", topics=topics), state_dir=tmp_path / "state",
        itero=[IteroConnection(id="c1", company_id="4242", webhook=WebhookAuth(token=TOKEN),
                               base_url="http://127.0.0.1:1", token_url="http://127.0.0.1:1/t",
                               access_token="a", refresh_token="r")])
    try:
        async with serve(create_app(settings, bus, manage_bus=False)) as url, \
                httpx.AsyncClient(base_url=url) as http:
            yield http, bus, topics
    finally:
        await bus.close()


async def test_the_receiver_gives_every_spelling_one_subject_and_key_and_keeps_the_raw_inbound(
        receiver: tuple[httpx.AsyncClient, LocalBus, Topics]) -> None:
    http, bus, topics = receiver
    bodies = [json.dumps({"Id": s, "CompanyId": 4242}).encode() for s in SPELLINGS]
    for body in bodies:
        response = await http.post(f"/hooks/itero/{TOKEN}", content=body,
                                   headers={"content-type": "application/json"})
        assert response.status_code == 202, response.text
    events = await collect(bus, [topics.events, topics.inbound], lambda ev: len(ev) >= 2 * len(SPELLINGS))
    notified = [e for e in events if e.type == SCAN_NOTIFIED]
    assert {(e.subject, e.partitionkey, e.json_data()["rx_id"]) for e in notified} == {
        (GUID, f"itero:4242:{GUID}", GUID)}
    inbound = [e.data for e in events if e.type == INBOUND_RECEIVED]
    assert sorted(map(bytes, inbound)) == sorted(bodies)  # verbatim, each in its own spelling


@pytest.mark.parametrize(("one", "other"), [
    ("A/1", "A_1"),
    ("A/1", "A:1"),
    ("a b", "a_b"),
    ("..x", "x"),
    ("x_", "x"),
    ("", "_"),
    ("7" * 130 + "a", "7" * 130 + "b"),  # long ids sharing the part that fits
    ("7" * 121, "7" * 120),
])
def test_different_ids_never_share_a_folder_name(one: str, other: str) -> None:
    assert safe_component(one) != safe_component(other)
    for value in (one, other):
        name = safe_component(value)
        assert 0 < len(name) <= 120 and name not in (".", "..") and "/" not in name


def test_a_safe_id_keeps_its_name() -> None:
    assert safe_component("74d3ac7f-603f.jpeg") == "74d3ac7f-603f.jpeg"
    assert safe_component("3706720") == "3706720"


def _contents(root: Path, name: str) -> list[bytes]:
    return sorted(p.read_bytes() for p in root.rglob(name))


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_two_orders_whose_ids_clean_up_alike_are_stored_apart(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    for order_id, data in (("A/1", b"first"), ("A_1", b"second")):
        order = Order(vendor="meditlink", account="g", connection="c", order_id=order_id, stage="unknown",
                      version="v1", vendor_record={})
        await store.write(f"{order_folder(order, order_id)}/v1/scan_3d/f.7z", _bytes(data), max_bytes=100)
    assert _contents(tmp_path, "f.7z") == [b"first", b"second"]


def test_a_random_guid_is_its_own_canonical_form() -> None:
    guid = str(uuid.uuid4())
    assert rx_key(guid) == guid and safe_component(guid) == guid
