"""`order.updated` within the deployment's caps, on the local bus (issue 10 item 9): long texts cut, a huge
vendor record replaced by a summary with a pointer to the inbound record, each named in `truncated`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.local import LocalBus
from consumers.event_caps import SUMMARY_KEY, cap_order
from consumers.publish import Publisher
from schemas.events import Order, Party
from schemas.settings import EventLimits
from schemas.topics import Topics

LIMITS = EventLimits(max_vendor_record_bytes=2048, max_text_chars=100)


def _order(**fields: Any) -> Order:
    base: dict[str, Any] = {"vendor": "itero", "account": "4242", "connection": "clinic-1", "order_id": "17",
                            "rx_id": "rx-1", "stage": "scanned", "version": "v1",
                            "vendor_record": {"OrderId": 17, "RxId": "rx-1", "Status": "Scanning"}}
    return Order(**(base | fields))


async def _published(tmp_path: Path, order: Order, inbound_id: str | None) -> dict[str, Any]:
    topics = Topics()
    bus = LocalBus(tmp_path / "bus.sqlite3")
    await bus.start()
    try:
        await bus.ensure_topics(topics.all())
        await Publisher(bus, topics, LIMITS).order_updated(order, "rx-1", inbound_id)
        consumer = bus.consumer([topics.events], "reader")
        await consumer.start()
        (delivery,) = await consumer.poll()
        await consumer.close()
    finally:
        await bus.close()
    return delivery.event.json_data()


async def test_a_huge_vendor_record_and_long_texts_are_capped_before_publishing(tmp_path: Path) -> None:
    """Before: published verbatim, whatever their size (Kafka refused them; the local bus grew)."""
    record = {"OrderId": 17, "RxId": "rx-1", "Notes": "n" * 10_000, "Preps": [{"AdaId": 8}] * 500,
              "LongCode": "c" * 300}
    order = _order(notes="n" * 10_000, doctor=Party(name="D" * 500), vendor_record=record)
    data = await _published(tmp_path, order, inbound_id="inbound-123")
    assert data["truncated"] == ["doctor.name", "notes", "vendor_record"]
    assert data["notes"] == "n" * 100 and data["doctor"]["name"] == "D" * 100
    summary = data["vendor_record"].pop(SUMMARY_KEY)
    assert data["vendor_record"] == {"OrderId": 17, "RxId": "rx-1"}  # short top-level scalars only
    assert summary["inbound_id"] == "inbound-123" and summary["truncated"] is True
    assert summary["max_bytes"] == 2048 and summary["original_bytes"] > 10_000


async def test_an_order_within_the_caps_is_published_unchanged(tmp_path: Path) -> None:
    order = _order(notes="short", scanned_at=datetime(2026, 1, 2, tzinfo=UTC))
    data = await _published(tmp_path, order, inbound_id=None)
    assert data == order.model_dump(mode="json") and data["truncated"] == []


def test_long_texts_inside_a_small_vendor_record_are_cut_too() -> None:
    capped = cap_order(_order(vendor_record={"Notes": "x" * 101, "Items": [{"Name": "y" * 500}]}), LIMITS)
    assert capped.truncated == ["vendor_record.Notes", "vendor_record.Items[0].Name"]
    assert capped.vendor_record == {"Notes": "x" * 100, "Items": [{"Name": "y" * 100}]}


def test_a_summary_keeps_within_half_the_cap_however_many_fields_the_record_has() -> None:
    record = {f"Field{n}": n for n in range(10_000)}
    capped = cap_order(_order(vendor_record=record), LIMITS)
    assert capped.truncated == ["vendor_record"]
    assert len(capped.model_dump_json()) < 2 * LIMITS.max_vendor_record_bytes
