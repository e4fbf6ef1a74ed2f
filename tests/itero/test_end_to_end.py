"""iTero scan notification → Kafka → order and artifacts stored, against the simulator and real Kafka."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import httpx

from consumers.health import label
from consumers.itero import pairing
from consumers.itero.poller import IteroPoller
from schemas.envelope import Envelope
from schemas.topics import (
    ARTIFACT_FAILED,
    ARTIFACT_STORED,
    INBOUND_RECEIVED,
    ORDER_COMPLETED,
    ORDER_UPDATED,
    SCAN_NOTIFIED,
)
from simulators.itero.notify import post_notification
from tests.events import collect, of_type, settle
from tests.itero.conftest import Stack, eventually
from tests.shared import shared_state


def zips_on_disk(stack: Stack) -> list[Path]:
    return list(Path(stack.settings.storage.root).rglob("*.zip"))


def _stored(events: list[Envelope]) -> list[Envelope]:
    return of_type(events, ARTIFACT_STORED)


async def _notify(stack: Stack, rx_id: str) -> httpx.Response:
    return await post_notification(stack.hook, rx_id, stack.sim.company_id)


async def test_a_notified_scan_ends_as_three_events_and_verified_files_on_disk(stack: Stack,
                                                                                worker: object) -> None:
    order = stack.sim.add_order(size=200_000)
    response = await _notify(stack, order.rx_id)
    assert response.status_code == 202, response.text
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(_stored(ev)) >= 2)
    notified, = of_type(events, SCAN_NOTIFIED)
    assert notified.data["rx_id"] == order.rx_id and notified.data["learned_by"] == "webhook"
    updated, = of_type(events, ORDER_UPDATED)
    data = updated.json_data()
    assert data["order_id"] == str(order.order_id) and data["stage"] == "completed"
    assert {(t["universal"], t["fdi"]) for t in data["teeth"]} == {(8, 11), (30, 46)}
    assert updated.partitionkey == f"itero:{stack.sim.company_id}:{order.rx_id}"
    kinds = {e.json_data()["kind"] for e in _stored(events)}
    assert kinds == {"scan_3d", "images"}  # no screen captures: the simulator answered 204
    for event in _stored(events):
        art = event.json_data()
        path = Path(stack.settings.storage.root) / art["relative_path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == art["sha256"]
        assert path.stat().st_size == art["size"] and zipfile.is_zipfile(path)
        assert "?" not in art["source_host"] and art["source_host"] == "127.0.0.1"
    inbound = await collect(stack.bus, [stack.topics.inbound], lambda ev: len(ev) >= 1)
    assert inbound[0].type == INBOUND_RECEIVED and inbound[0].data == response.request.content
    connection = stack.settings.itero[0]  # the worker's vendor calls worked: the connection is healthy

    async def healthy() -> bool:
        async with shared_state(stack.settings) as shared:
            return label(await shared.health.read(pairing.key_of(connection))) == "ok"

    await eventually(healthy)


async def test_the_same_notification_twice_stores_and_announces_nothing_twice(stack: Stack,
                                                                               worker: object) -> None:
    order = stack.sim.add_order(size=50_000)
    assert (await _notify(stack, order.rx_id)).status_code == 202
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    assert (await _notify(stack, order.rx_id)).status_code == 202
    await collect(stack.bus, [stack.topics.events], lambda ev: len(of_type(ev, SCAN_NOTIFIED)) >= 2)
    events = await settle(stack.bus, [stack.topics.events, stack.topics.artifacts], quiet_s=3.0)
    assert len(of_type(events, ORDER_UPDATED)) == 1
    assert len(_stored(events)) == 2
    assert len(zips_on_disk(stack)) == 2


async def test_a_scan_changed_by_modeling_yields_new_artifact_versions(stack: Stack, worker: object) -> None:
    order = stack.sim.add_order(size=50_000)
    await _notify(stack, order.rx_id)
    first = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    stack.sim.remodel(order.rx_id, "Lab Review")
    await _notify(stack, order.rx_id)
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(_stored(ev)) >= 4)
    updates = of_type(events, ORDER_UPDATED)
    assert [u.json_data()["vendor_status"] for u in updates] == ["Completed", "Lab Review"]
    assert updates[1].json_data()["previous_vendor_status"] == "Completed"
    versions = {e.json_data()["order"]["version"] for e in _stored(events)}
    assert len(versions) == 2
    old = {e.json_data()["sha256"] for e in first}
    new = {e.json_data()["sha256"] for e in _stored(events)} - old
    assert len(new) == 2  # the remodelled files differ, and both versions stay on disk


async def test_files_not_generated_yet_are_retried_until_ready(stack: Stack, worker: object) -> None:
    order = stack.sim.add_order(size=20_000, not_ready_for_s=1.5)
    await _notify(stack, order.rx_id)
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: bool(of_type(ev, ORDER_COMPLETED)))
    assert [e.type for e in events].count(ARTIFACT_STORED) == 2  # both stored, then the order completed
    assert {e.type for e in events} == {ARTIFACT_STORED, ORDER_COMPLETED}
    downloads = [p for m, p in stack.sim.requests if "/download/IDE" in p]
    assert len(downloads) >= 2  # at least one 404 before the file was ready


async def test_an_expired_access_token_is_refreshed_and_the_new_one_kept(stack: Stack,
                                                                          worker: object) -> None:
    stack.sim.expire_access_tokens()
    order = stack.sim.add_order(size=20_000)
    await _notify(stack, order.rx_id)
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    assert ("POST", "/oauth/token") in stack.sim.requests
    async with shared_state(stack.settings) as shared:  # kept in the state store, for every process
        saved = await shared.state.credentials.get(pairing.key_of(stack.settings.itero[0]))
    assert saved is not None and stack.sim.token_valid(saved.access_token)
    assert saved.refresh_token in stack.sim.refresh_tokens  # the rotated one, not the spent one
    assert stack.sim.refresh_reuse == 0


async def test_screen_captures_are_stored_when_the_vendor_has_them(stack: Stack, worker: object) -> None:
    order = stack.sim.add_order(size=20_000, screen_captures=True)
    await _notify(stack, order.rx_id)
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 3)
    assert {e.json_data()["kind"] for e in events} == {"scan_3d", "images", "screen_captures"}


async def test_a_vendor_500_is_retried_then_succeeds(stack: Stack, worker: object) -> None:
    order = stack.sim.add_order(size=20_000)
    stack.sim.fail_next(f"/orders/{order.rx_id}", 500, count=2)
    stack.sim.fail_next("/download/IDE", 500, count=2)
    await _notify(stack, order.rx_id)
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    assert all(e.type == ARTIFACT_STORED for e in events)
    assert not of_type(events, ARTIFACT_FAILED)


async def test_an_expired_returned_download_link_is_renewed_from_the_order(
    stack: Stack, worker: object
) -> None:
    stack.sim.signed_links = True
    stack.sim.expired_links = 1  # the first order answer hands out links that already expired
    order = stack.sim.add_order(size=20_000)
    await _notify(stack, order.rx_id)
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    assert {e.type for e in events} == {ARTIFACT_STORED}
    expired = [p for m, p in stack.sim.requests if "/download/IDE" in p]
    assert len(expired) >= 2  # one refused with 403, one with the renewed link


async def test_one_scan_notified_in_any_spelling_and_polled_is_one_order_in_one_folder(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    """Issue 10 item 11: `{GUID}`, `urn:uuid:…`, no dashes, upper case name the scan the poll lists."""
    order = stack.sim.add_order(size=50_000)
    spellings = ("{" + order.rx_id.upper() + "}", f"urn:uuid:{order.rx_id}", order.rx_id.replace("-", ""))
    for spelling in spellings:
        assert (await _notify(stack, spelling)).status_code == 202
    await poller.poll_once()
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(_stored(ev)) >= 2)
    events = await settle(stack.bus, [stack.topics.events, stack.topics.artifacts], quiet_s=3.0)
    notified = of_type(events, SCAN_NOTIFIED)
    assert len(notified) == 4
    assert {(e.subject, e.partitionkey, e.json_data()["rx_id"]) for e in notified} == {
        (order.rx_id, f"itero:{stack.sim.company_id}:{order.rx_id}", order.rx_id)}
    assert len(of_type(events, ORDER_UPDATED)) == 1 and len(_stored(events)) == 2
    account_folder = Path(stack.settings.storage.root) / "itero" / str(stack.sim.company_id)
    assert [p.name for p in account_folder.iterdir() if p.is_dir()] == [order.rx_id]
