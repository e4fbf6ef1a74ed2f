"""Scan requests of the simulated iTero cloud (itero-dpms-api.txt "Scan Request", "Delete RX",
"Scan Request With Update"): the Rx pushed to the scanner and the practice's patients they match.

A patient matches on first name, last name and chart number; an unmatched one is added. With the
integration allowed to update patient details (`allow_patient_update`), a request whose chart number
two or more patients share fails with 409 and nothing is created. DoctorId must be one of the
practice's doctors, CompanyId the practice's (else 400 "Wrong DoctorId" / "Wrong data format").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

MANDATORY = ("CompanyId", "DoctorId", "PatientFirstName", "PatientLastName", "PatientChartNumber")


@dataclass
class SimPatient:
    first: str
    last: str
    chart: str
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class SimRx:
    rx_id: str
    patient: SimPatient
    body: dict[str, Any]


class ScanRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ScanRequests:
    company_id: int
    doctor_ids: set[int] = field(default_factory=lambda: {501, 502})
    allow_patient_update: bool = True
    patients: list[SimPatient] = field(default_factory=list)
    rxs: dict[str, SimRx] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def push(self, body: Any) -> SimRx:
        if not isinstance(body, dict) or any(body.get(k) in (None, "") for k in MANDATORY):
            raise ScanRequestError(400, "Wrong data format")
        try:
            company, doctor = int(body["CompanyId"]), int(body["DoctorId"])
        except (TypeError, ValueError):
            raise ScanRequestError(400, "Wrong data format") from None
        if company != self.company_id:
            raise ScanRequestError(400, "Wrong data format")
        if doctor not in self.doctor_ids:
            raise ScanRequestError(400, "Wrong DoctorId")
        first, last, chart = (str(body[k]) for k in MANDATORY[2:])
        same_chart = [p for p in self.patients if p.chart == chart]
        if self.allow_patient_update and len(same_chart) > 1:
            raise ScanRequestError(409, "More than one patient is found with the passed chart number")
        patient = next((p for p in same_chart if (p.first, p.last) == (first, last)), None)
        if patient is None and self.allow_patient_update and same_chart:
            patient = same_chart[0]  # details updated by chart number
            patient.first, patient.last = first, last
        if patient is None:
            patient = SimPatient(first, last, chart)
            self.patients.append(patient)
        rx = SimRx(str(uuid.uuid4()), patient, dict(body))
        self.rxs[rx.rx_id] = rx
        return rx

    def delete(self, rx_id: str) -> str:
        try:
            canonical = str(uuid.UUID(rx_id))
        except ValueError:
            raise ScanRequestError(400, "Wrong RXID") from None
        if self.rxs.pop(canonical, None) is None:
            raise ScanRequestError(400, "Wrong RXID")
        self.deleted.add(canonical)
        return canonical
