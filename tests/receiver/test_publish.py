"""A webhook's `scan.notified` data written without the model (issue 16) is the model's own JSON dump."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.publish import notified_data
from schemas.events import ScanNotified

TEXT = st.none() | st.text(max_size=12)
TIMES = st.datetimes(timezones=st.just(UTC)) | st.sampled_from([datetime(2026, 12, 2, 8, 0, tzinfo=UTC)])


@settings(max_examples=300, deadline=None)
@given(vendor=st.text(max_size=8), account=st.text(max_size=8), connection=st.text(max_size=8),
       received_at=TIMES, learned_by=st.sampled_from(["webhook", "poll", "replay"]), rx_id=TEXT,
       order_id=TEXT, case_id=TEXT, file_id=TEXT, status=TEXT, command_id=TEXT)
def test_notified_data_is_the_json_dump_of_scan_notified(**fields: object) -> None:
    assert notified_data(**fields) == ScanNotified(**fields).model_dump(mode="json")  # type: ignore[arg-type]
    assert list(notified_data(**fields)) == list(ScanNotified.model_fields)  # type: ignore[arg-type]
