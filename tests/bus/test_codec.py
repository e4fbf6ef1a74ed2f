"""The Kafka binary-mode encoder writes what the cloudevents library writes (issue 16: without the library's
per-event cost): the same key and headers in the same order, JSON data that reads back the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bus.codec import _library_encode, decode, encode
from schemas.envelope import Envelope
from schemas.eventfactory import inbound_record, vendor_event
from schemas.topics import SCAN_NOTIFIED

WHEN = datetime(2026, 12, 2, 5, 27, 25, 123456, tzinfo=UTC)
RX = "0e8b7f7e-5b4c-4d8e-9f6a-1b2c3d4e5f60"


def _events() -> list[Envelope]:
    raw = b'{"Id": "x", "CompanyId": 4242}'
    inbound = inbound_record(vendor="itero", account="4242", subject=RX, raw=raw,
                             content_type="application/json", route="/hooks/itero", time=WHEN)
    data = {"vendor": "itero", "rx_id": RX, "received_at": WHEN.isoformat(), "note": "Zahnärztin ✓",
            "nested": {"list": [1, 2.5, None, True]}}
    event = vendor_event(SCAN_NOTIFIED, vendor="itero", account="4242", subject=RX, version=inbound.id,
                         data=data, time=WHEN)
    traced = event.model_copy(update={"extensions": {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
                                                     "replayed": "true"}})
    elsewhere = WHEN.astimezone(timezone(timedelta(hours=1)))
    no_subject = event.model_copy(update={"subject": None, "time": elsewhere})
    with_datetime = event.model_copy(update={"data": {"at": WHEN, 7: "an integer key"}})
    return [inbound, event, traced, no_subject, with_datetime]


@pytest.mark.parametrize("event", _events(),
                         ids=["inbound", "event", "traced", "no-subject", "datetime-data"])
def test_encode_writes_the_key_and_headers_of_the_cloudevents_library_and_equal_json(event: Envelope) -> None:
    key, value, headers = encode(event)
    lib_key, lib_value, lib_headers = _library_encode(event)
    assert key == lib_key
    assert headers == lib_headers
    if isinstance(event.data, bytes):
        assert value == lib_value == event.data  # inbound records stay the verbatim bytes
    else:
        assert json.loads(value) == json.loads(lib_value)
    assert decode(key, value, headers) == decode(lib_key, lib_value, lib_headers)


def test_an_extension_named_like_a_core_attribute_is_left_to_the_library() -> None:
    event = _events()[1].model_copy(update={"extensions": {"subject": "other"}})
    assert encode(event) == _library_encode(event)


def test_data_orjson_cannot_write_falls_back_to_the_standard_encoder() -> None:
    event = _events()[1].model_copy(update={"data": {"big": 2**70}})
    assert json.loads(encode(event)[1]) == {"big": 2**70}
