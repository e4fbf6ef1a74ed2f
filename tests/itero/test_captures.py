"""Screen captures taken after the scan (itero-dpms-api.txt Get List of Screen Captures, Download Single
Screen Capture): polled from latest-files, each stored once as a `screen_captures` artifact of its order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from consumers.itero.handler import JPEG_MAGIC
from consumers.itero.poller import IteroPoller, capture_date_from, capture_id_of
from schemas.envelope import Envelope
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED
from simulators.itero.notify import post_notification
from tests.events import collect, of_type, settle
from tests.itero.conftest import Stack


def _captures(events: list[Envelope]) -> list[Envelope]:
    return [e for e in of_type(events, ARTIFACT_STORED) if e.json_data()["file_name"].endswith(".jpg")]


def _head(path: Path) -> bytes:
    return path.read_bytes()[:3]


async def test_a_screen_capture_taken_after_the_scan_is_stored_once_as_a_new_artifact(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=10_000)
    await poller.poll_once()
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    capture = stack.sim.add_capture(order.rx_id)  # taken later: no notification (Callback Request note)
    result = await poller.poll_once()
    assert (result.notified, result.captures_notified) == (0, 1)
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(_captures(ev)) >= 1)
    stored, = _captures(events)
    art = stored.json_data()
    assert art["kind"] == "screen_captures" and art["media_type"] == "image/jpeg"
    assert capture.capture_id in art["file_name"] and art["source_host"] == "127.0.0.1"
    assert _head(Path(stack.settings.storage.root) / art["relative_path"]) == JPEG_MAGIC
    single = f"/api/third-party/v2/order/{order.order_id}/download/SCREEN_CAPTURE/{capture.capture_id}"
    assert ("GET", single) in stack.sim.requests
    assert (await poller.poll_once()).captures_notified == 0
    everything = await settle(stack.bus, [stack.topics.events, stack.topics.artifacts], quiet_s=2.0)
    assert len(_captures(everything)) == 1
    assert len(of_type(everything, ORDER_UPDATED)) == 1  # a capture is not a new order version


@pytest.mark.parametrize("connection_options", [{"vendor": "align", "poll_interval_s": 120.0}])
async def test_a_capture_of_an_order_that_left_the_lab_list_is_matched_by_its_order_id(
        stack: Stack, worker: object, poller: IteroPoller) -> None:
    order = stack.sim.add_order(size=10_000)
    await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
    await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(ev) >= 2)
    stack.sim.add_capture(order.rx_id)
    result = await poller.poll_once()
    assert (result.listed, result.captures_notified) == (0, 1)  # downloaded: gone from orders/lab
    events = await collect(stack.bus, [stack.topics.artifacts], lambda ev: len(_captures(ev)) >= 1)
    assert _captures(events)[0].partitionkey == f"align:{stack.sim.company_id}:{order.rx_id}"


async def test_latest_files_is_asked_from_the_default_window_then_from_the_cursor(
        stack: Stack, poller: IteroPoller) -> None:
    await poller.poll_once()
    await poller.poll_once()
    asked = [q.get("dateFrom") for path, q in stack.sim.queries if path.endswith("/latest-files")]
    today = datetime.now(UTC).date()
    assert asked == [(today - timedelta(days=14)).isoformat(), (today - timedelta(days=1)).isoformat()]


def test_the_capture_window_starts_at_the_cursor_and_never_more_than_90_days_back() -> None:
    today = date(2026, 11, 25)
    assert capture_date_from(today, None, 14) == date(2026, 11, 11)
    assert capture_date_from(today, "2026-11-01", 14) == date(2026, 11, 1)
    assert capture_date_from(today, "2026-01-01", 14) == today - timedelta(days=90)
    assert capture_date_from(today, "2027-01-01", 14) == today
    assert capture_date_from(today, "garbage", 14) == date(2026, 11, 11)


def test_the_capture_id_is_the_last_segment_of_a_single_capture_link() -> None:
    assert capture_id_of("https://h/api/third-party/v2/order/17/download/SCREEN_CAPTURE/991?sig=x") == "991"
    assert capture_id_of("https://h/api/third-party/v2/order/17/download/IDE") is None
    assert capture_id_of(None) is None
