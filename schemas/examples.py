"""One example `data` per message type, built through the models (so each validates) with made-up values:
no real patient. Used by the AsyncAPI document and the README."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.commands import COMMAND_FAILED, COMMAND_SUCCEEDED, CommandResult
from schemas.commands import itero as itero_commands
from schemas.commands import meditlink as medit_commands
from schemas.commands import threeshape as threeshape_commands
from schemas.deadletter import Attempt, DeadLetter, DeadLetterRetried, OriginalEvent
from schemas.events import (
    ArtifactFailed,
    ArtifactOutcome,
    ArtifactRef,
    OperatorAction,
    Order,
    OrderCompleted,
    OrderRef,
    Party,
    Patient,
    ReauthorizationNeeded,
    ScanNotified,
    StoredArtifact,
    SubscriptionDisabled,
    Tooth,
    WatchPatients,
)

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
COMMAND_ID = "8d7c6b5a-4e3f-4a1b-9c8d-7e6f5a4b3c2d"
RX = "3f2b8c1e-5d47-4a8e-9b0c-2e1f6a7d8c90"
CLIENT = "5be65d15-31a2-442b-a93b-0bd65ec8abe9"  # a 3DD client id (the doc's example)
REF = OrderRef(vendor="itero", account="4242", order_id=RX, version="9c1d2e3f4a5b6c7d")
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
STORED = StoredArtifact(
    order=REF, kind="scan_3d", file_name="80012345-IDE.zip", media_type="application/zip", size=2_000_000,
    sha256=SHA, vendor_checksum=None, storage_uri=f"file:///var/scanbridge/artifacts/itero/4242/{RX}/"
    f"9c1d2e3f4a5b6c7d/scan_3d/80012345-IDE.zip",
    relative_path=f"itero/4242/{RX}/9c1d2e3f4a5b6c7d/scan_3d/80012345-IDE.zip",
    source_host="itero.example", stored_at=AT,
)
FAILED = ArtifactFailed(order=REF, kind="images", vendor_ref="IMAGE_GALLERY",
                        reason="order not ready after 1800 s (404)", attempts=12,
                        retry_hint="re-deliver the scan.notified event (scanbridge dlq retry)")
NOTIFIED = ScanNotified(vendor="itero", account="4242", connection="practice-1", rx_id=RX,
                        learned_by="webhook", received_at=AT,
                        inbound_id="0d5c8a2e-8f8b-4c9e-a1d2-7f3e4b5c6d7e")


def _order() -> Order:
    return Order(
        vendor="itero", account="4242", account_name="Example Dental", connection="practice-1",
        order_id="80012345", rx_id=RX, order_code="AB12CD", stage="scanned", vendor_status="Completed",
        procedure="Crown",
        teeth=[Tooth(fdi=16, universal=3, unit_type="Crown", material="Zirconia", shade="A2")],
        patient=Patient(first_name="Jane", last_name="Example", chart_number="C-0001"),
        doctor=Party(id="D-7", name="Dr. Example"), lab=Party(id="L-3", name="Example Lab"),
        scanned_at=AT, artifacts=[ArtifactRef(kind="scan_3d", vendor_ref="IDE", name="80012345-IDE.zip")],
        version="9c1d2e3f4a5b6c7d", vendor_record={"RxId": RX, "Status": "Completed"},
    )


def _dead_letter() -> DeadLetter:
    return DeadLetter(
        original=OriginalEvent(
            id="7a0e4c1b-4f7d-5b4e-9d3c-2a1b0c9d8e7f", source="scanbridge/itero/4242", type="scan.notified",
            subject=RX, time=AT, datacontenttype="application/json", partitionkey=f"itero:4242:{RX}",
            topic="scanbridge.events.v1", extensions={}, data=NOTIFIED.model_dump(mode="json"),
        ),
        reason="1 of 2 artifacts of itero order 80012345 failed: images IMAGE_GALLERY: not ready",
        attempts=[Attempt(at=AT, error="NotReady: 404")],
    )


def _commands() -> dict[str, dict[str, Any]]:
    case = "72218637-46a3-4a9c-a675-399e668dd8ff"
    made = [
        medit_commands.UploadFile(command_id=COMMAND_ID, connection="lab-1", case_uuid=case,
                                  source="5b1c2d3e-4f50-5a6b-8c7d-9e0f1a2b3c4d", name="crown.stl"),
        medit_commands.AcceptOrder(command_id=COMMAND_ID, connection="lab-1", order_number=3706720),
        medit_commands.RejectOrder(command_id=COMMAND_ID, connection="lab-1", order_number=3706720),
        medit_commands.CancelOrder(command_id=COMMAND_ID, connection="clinic-1", order_number=3706720),
        medit_commands.DeleteFile(command_id=COMMAND_ID, connection="lab-1",
                                  file_uuid="a1bc5fd2-165a-447d-a1c1-28340aa038e0"),
        itero_commands.ScanRequest(command_id=COMMAND_ID, connection="practice-1", doctor_id=501,
                                   patient_first_name="Jane", patient_last_name="Example",
                                   patient_chart_number="C-0001", procedure_map_id=30, lab_id=88),
        itero_commands.DeleteRx(command_id=COMMAND_ID, connection="practice-1", rx_id=RX),
        threeshape_commands.CreatePatient(command_id=COMMAND_ID, connection="clinic-1", integration_id="123",
                                          patient_last_name="Example", patient_first_name="Jane",
                                          client_id=CLIENT, merge=True),
        threeshape_commands.UpdatePatient(command_id=COMMAND_ID, connection="clinic-1", integration_id="123",
                                          patient_last_name="Example", patient_first_name="Jane"),
        threeshape_commands.CreateCase(command_id=COMMAND_ID, connection="clinic-1", integration_id="123",
                                       client_id=CLIENT),
        threeshape_commands.SelectCase(command_id=COMMAND_ID, connection="clinic-1", client_id=CLIENT,
                                       case_id="7d728802-d04c-4d87-bf7d-dcd48b48fd93"),
        threeshape_commands.CancelRequest(command_id="1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
                                          connection="clinic-1", target_command_id=COMMAND_ID),
    ]
    return {command.command_type(): command.model_dump(mode="json") for command in made}


EXAMPLES: dict[str, dict[str, Any]] = {
    "inbound.received": {"Id": RX, "CompanyId": 4242},
    "scan.notified": NOTIFIED.model_dump(mode="json"),
    "order.updated": _order().model_dump(mode="json"),
    "artifact.stored": STORED.model_dump(mode="json"),
    "artifact.failed": FAILED.model_dump(mode="json"),
    "order.completed": OrderCompleted(
        order=REF, stored=1, failed=1, completed_at=AT, artifacts=[
            ArtifactOutcome(kind="scan_3d", artifact_id="5b1c2d3e-4f50-5a6b-8c7d-9e0f1a2b3c4d",
                            outcome="stored", vendor_ref="IDE", file_name=STORED.file_name, size=STORED.size,
                            sha256=SHA, storage_uri=STORED.storage_uri),
            ArtifactOutcome(kind="images", artifact_id="6c2d3e4f-5061-5b7c-9d8e-0f1a2b3c4d5e",
                            outcome="failed", vendor_ref="IMAGE_GALLERY", reason=FAILED.reason),
        ]).model_dump(mode="json"),
    "connection.reauthorization_needed": ReauthorizationNeeded(
        vendor="meditlink", account="2d9f0c1e-7a3b-4c5d-8e9f-0a1b2c3d4e5f", connection="lab-1",
        reason="refresh_token_expiring",
        refresh_token_expires_at=AT, detected_at=AT,
        how="scanbridge connect meditlink --connection lab-1").model_dump(mode="json"),
    "subscription.disabled": SubscriptionDisabled(
        subscription="lab-x", endpoint_host="lab-x.example", failing_since=AT, disabled_at=AT,
        last_error="503 Service Unavailable",
        how="scanbridge subscriptions enable lab-x").model_dump(mode="json"),
    "operator.action": OperatorAction(actor="ann", action="deadletter.retry",
                                      target="1e2d3c4b-5a69-5788-97a6-b5c4d3e2f1a0", detail={"retry": "1"},
                                      seq=42, at=AT).model_dump(mode="json"),
    "deadletter.created": _dead_letter().model_dump(mode="json"),
    "deadletter.retried": DeadLetterRetried(deadletter="1e2d3c4b-5a69-5788-97a6-b5c4d3e2f1a0",
                                            original="7a0e4c1b-4f7d-5b4e-9d3c-2a1b0c9d8e7f",
                                            retry=1).model_dump(mode="json"),
    "command.watch_patients": WatchPatients(connection="clinic-1", action="watch",
                                            integration_ids=["123", "456"]).model_dump(mode="json"),
    **_commands(),
    COMMAND_SUCCEEDED: CommandResult(
        command_id=COMMAND_ID, command_type="command.meditlink.upload_file", vendor="meditlink",
        connection="lab-1", subject="72218637-46a3-4a9c-a675-399e668dd8ff", succeeded=True,
        vendor_ids={"file_uuid": "0027931e-bd07-4737-8bb1-0fb12c77d064"},
        result={"name": "crown.stl.general.meditMesh", "size": 13612946, "status": "SUCCESS"},
        completed_at=AT).model_dump(mode="json"),
    COMMAND_FAILED: CommandResult(
        command_id=COMMAND_ID, command_type="command.meditlink.accept_order", vendor="meditlink",
        connection="lab-1", subject="3706720", succeeded=False, reason="vendor_refused",
        message="Order already processed: CANCELED", vendor_status=409, vendor_error="conflict",
        retryable=False, completed_at=AT).model_dump(mode="json"),
}
