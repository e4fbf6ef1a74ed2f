"""What the orders index keeps of each event (scanbridge/console/indexer.py)."""

from __future__ import annotations

from scanbridge.console.indexer import indexed
from schemas.envelope import Envelope
from state.base import OrderKey


def _event(event_type: str, data: dict[str, object], subject: str = "rx-1") -> Envelope:
    return Envelope(id=f"id-{event_type}", source="scanbridge/itero/4242", type=event_type, subject=subject,
                    partitionkey=f"itero:4242:{subject}", data=data)


def test_an_order_update_gives_ids_stage_and_patient_apart_from_the_summary() -> None:
    found = indexed(_event("order.updated", {
        "rx_id": "rx-1", "case_id": None, "order_code": "OC-9", "stage": "scanned", "version": "v3",
        "patient": {"last_name": "Doe"}, "procedure": "Crown", "artifacts": [{}, {}],
        "vendor_record": {"PatientName": "Doe"}}))
    assert found is not None
    assert (found.key, found.rx_id, found.order_code, found.stage, found.version) == (
        OrderKey("itero", "4242", "rx-1"), "rx-1", "OC-9", "scanned", "v3")
    assert found.patient == {"last_name": "Doe"}
    assert found.summary == {"stage": "scanned", "procedure": "Crown", "artifacts": 2}  # no vendor record


def test_a_stored_artifact_counts_and_keeps_what_the_download_link_needs() -> None:
    found = indexed(_event("artifact.stored", {
        "order": {"vendor": "itero", "account": "4242", "order_id": "rx-1", "version": "v3"},
        "artifact_id": "0b9c", "kind": "scan_3d", "file_name": "a.zip", "size": 5, "sha256": "ab",
        "storage_uri": "file:///x", "relative_path": "x"}))
    assert found is not None and found.artifact and found.version == "v3"
    assert found.summary == {"artifact_id": "0b9c", "kind": "scan_3d", "file_name": "a.zip", "size": 5,
                             "sha256": "ab"}


def test_events_of_no_order_are_left_out() -> None:
    assert indexed(_event("connection.reauthorization_needed", {"connection": "lab-1"})) is None
    assert indexed(_event("operator.action", {"actor": "ann"})) is None
    assert indexed(Envelope(id="x", source="elsewhere", type="scan.notified", subject="s", partitionkey="k",
                            data={})) is None
