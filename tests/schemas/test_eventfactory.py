"""The event factory makes the ids, sources and keys the hand-built envelopes made before it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.eventfactory import inbound_record, vendor_event
from schemas.topics import (
    CONNECTION_REAUTHORIZATION_NEEDED,
    INBOUND_RECEIVED,
    ORDER_UPDATED,
    SCAN_NOTIFIED,
)

RX = "3f2b8c1e-5d47-4a8e-9b0c-2e1f6a7d8c90"
GROUP = "2d9f0c1e-7a3b-4c5d-8e9f-0a1b2c3d4e5f"

# (type, vendor, account, subject, version) → the id the envelopes carried before the factory
# (computed with schemas/ids.event_id at commit ba77a32; a change here breaks deduplication downstream).
PREVIOUS_IDS = [
    ((SCAN_NOTIFIED, "itero", "4242", RX, "v1"), "e9fd3d42-45f8-5bf4-b100-1989673a6b7e"),
    ((ORDER_UPDATED, "meditlink", GROUP, "3706720", "9c1d2e3f4a5b6c7d"),
     "081bab6d-c969-5dbe-9a83-55bc166aa8d9"),
    ((CONNECTION_REAUTHORIZATION_NEEDED, "align", "lab-7", "lab-7", "2026-01-02T03:04:05+00:00"),
     "2fe9d66e-31b5-5891-a88a-b18bd300d2b9"),
    ((SCAN_NOTIFIED, "3shape", "clinic-1", "case-9", "image/img-1/638000000000000000"),
     "8cab440b-dec1-5da7-ab6d-57e1a179b2d9"),
]


@pytest.mark.parametrize(("parts", "previous"), PREVIOUS_IDS)
def test_vendor_event_ids_equal_the_hand_built_ones(parts: tuple[str, str, str, str, str],
                                                    previous: str) -> None:
    event_type, vendor, account, subject, version = parts
    event = vendor_event(event_type, vendor=vendor, account=account, subject=subject, version=version,
                         data={})
    assert event.id == previous
    assert event.source == f"scanbridge/{vendor}/{account}"
    assert event.partitionkey == f"{vendor}:{account}:{subject}"
    assert (event.type, event.subject) == (event_type, subject)


def test_the_same_order_version_gives_the_same_id_and_another_version_another() -> None:
    def scan(version: str, data: int) -> str:
        return vendor_event(SCAN_NOTIFIED, vendor="itero", account="4242", subject=RX, version=version,
                            data={"a": data}).id

    first, again, other = scan("v1", 1), scan("v1", 2), scan("v2", 1)
    assert first == again != other


def test_an_inbound_record_is_keyed_like_its_event_under_a_fresh_id() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    one = inbound_record(vendor="itero", account="4242", subject=RX, raw=b"{}", content_type="",
                         route="/hooks/itero", time=at)
    two = inbound_record(vendor="itero", account="4242", subject=RX, raw=b"{}", content_type="text/json",
                         route="/hooks/itero", time=at)
    assert one.id != two.id
    assert one.type == INBOUND_RECEIVED
    assert (one.partitionkey, one.source) == (f"itero:4242:{RX}", "scanbridge/itero/4242")
    assert (one.datacontenttype, two.datacontenttype) == ("application/json", "text/json")
    assert one.extensions == {"route": "/hooks/itero"} and one.data == b"{}" and one.time == at
