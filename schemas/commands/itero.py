"""iTero commands (itero-dpms-api.txt "Scan Request", "Delete RX").

A scan request pushes an Rx with the patient's details to the practice's scanner(s); iTero answers with the
Rx id (a GUID), which the later scan notification ("Callback Request": `Id` = the Rx id) names, so that
`scan.notified` carries the command's `command_id`. The patient fields are named `patient_…` so the privacy
policy covers them wherever the command is copied (a dead letter).
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from schemas.commands.base import CommandData

VENDOR = "itero"
RX_LINK = "rx"  # CommandLog.link kind: an Rx id → the scan_request command that pushed it
NAME = r"^[^\x00-\x1f]+$"


def patient_subject(value: str) -> str:
    """The subject (and partition key part) of a command on one patient: a digest of its id, so events
    and partition keys never carry the chart number or integration id itself."""
    return "patient-" + hashlib.sha256(value.strip().encode()).hexdigest()[:16]


class _Itero(CommandData):
    vendor: ClassVar[str] = VENDOR


class ScanRequest(_Itero):
    """"Scan Request": push an Rx with the patient's details to the practice's scanner(s).

    A 409 ("more than one patient is found with the passed chart number") is a `command.failed` with
    `vendor_error` `duplicate_chart_number`; `command.succeeded` names the Rx id (`vendor_ids.rx_id`)."""

    action: ClassVar[str] = "scan_request"
    company_id: int | None = Field(None, ge=1, description="CompanyId; default: the connection's company_id")
    doctor_id: int = Field(ge=1, description="DoctorId (Get Practice Configuration: Doctors)")
    license_number: str | None = Field(None, max_length=64, pattern=NAME)
    patient_first_name: str = Field(min_length=1, max_length=100, pattern=NAME)
    patient_last_name: str = Field(min_length=1, max_length=100, pattern=NAME)
    patient_chart_number: str = Field(min_length=1, max_length=64, pattern=NAME,
                                      description="PatientChartNumber (chart number or MRN)")
    patient_gender: Literal["Male", "Female"] | None = None
    patient_date_of_birth: date | None = None
    notes: str | None = Field(None, max_length=2000)
    lab_id: int | None = Field(None, ge=1, description="labId: the destination lab")
    procedure_map_id: int | None = Field(None, ge=1, description="procedureMapId (Procedure selection)")

    def subject(self) -> str:
        return patient_subject(self.patient_chart_number)


class DeleteRx(_Itero):
    """"Delete RX": remove an Rx a scan request made from the scanner and myitero.com."""

    action: ClassVar[str] = "delete_rx"
    rx_id: UUID = Field(description="the Rx id the scan request returned")

    def subject(self) -> str:
        return str(self.rx_id)


MODELS: tuple[type[CommandData], ...] = (ScanRequest, DeleteRx)
