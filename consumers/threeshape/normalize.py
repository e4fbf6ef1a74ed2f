"""A Dental Desktop case → the normalized `Order` (EVENTS.md, 3Shape column).

3shape-dental-desktop-pms-integration.txt, "/GetCasesForPatient": CaseInfo, IndicationInfo (From/To in
UNN, i.e. Universal), SurfaceScanInfo (From/To tell the jaw), AttachedImageInfo (fetched with
"/GetAttachedImage"); "Concept of patient mapping" (PatientIntegrationId).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from consumers.privacy import PatientKeys
from consumers.threeshape.xml import CaseInfo, CaseStatus, IndicationInfo, SurfaceScanInfo
from schemas.events import ArtifactRef, Order, Party, Patient, Stage, Tooth
from schemas.ids import fingerprint
from schemas.teeth import universal_to_fdi

VENDOR = "3shape"
IN_HOUSE = "In-house"  # SentToLab when the case is not sent
Jaw = Literal["upper", "lower", "both", "unknown"]
# Patient data in a CaseInfo ("/GetCasesForPatient"): PatientName, PatientIntegrationId (any PMS patient
# value, e.g. an SSN: "Concept of patient mapping"), and each AttachedImageInfo's Name (a file name).
PATIENT_KEYS = PatientKeys(under={"attachedimages": frozenset({"name"})}, file_names=True)
_STAGES: dict[CaseStatus, Stage] = {"Created": "pending", "Scanned": "scanned", "Modelled": "modeling"}


def case_status(case: CaseInfo) -> CaseStatus:
    """The status the query told (`case.status`), else the flags present in the record, else:
    scans present → Scanned, none → Created."""
    if case.status is not None:
        return case.status
    if case.is_modelled:
        return "Modelled"
    if case.is_scanned or case.surface_scans:
        return "Scanned"
    return "Created"


def jaw_of(scan: SurfaceScanInfo) -> Jaw:
    """UNN 1–16 is the upper jaw, 17–32 the lower ("From and To values can be used ... to determine
    if the jaw scan corresponds to the lower or upper jaw")."""
    teeth = [n for n in (scan.first, scan.last) if n is not None and 1 <= n <= 32]
    if not teeth:
        return "unknown"
    upper = {n <= 16 for n in teeth}
    return "both" if len(upper) == 2 else ("upper" if upper == {True} else "lower")


def _span(first: int, last: int) -> list[int]:
    """Universal numbers from `first` to `last` along one arch (1→16 upper, 17→32 lower)."""
    low, high = sorted((first, last))
    if (low <= 16) != (high <= 16):
        return [first, last]  # crosses arches: not a contiguous span, keep the two ends
    return list(range(low, high + 1))


def teeth_of(indications: tuple[IndicationInfo, ...]) -> list[Tooth]:
    """One Tooth per tooth an indication covers; a multi-tooth indication groups its teeth by
    `bridge_id` (From-To). Numbers outside 1–32 are dropped (they stay in `vendor_record`)."""
    teeth: list[Tooth] = []
    for indication in indications:
        first = indication.first if indication.first is not None else indication.last
        last = indication.last if indication.last is not None else first
        if first is None or last is None:
            continue
        numbers = [n for n in _span(first, last) if 1 <= n <= 32]
        bridge = f"{first}-{last}" if len(numbers) > 1 else None
        teeth += [
            Tooth(
                universal=n,
                fdi=universal_to_fdi(n),
                unit_type=indication.name or None,
                shade=indication.shade or None,  # "including material", e.g. "Wax A1"
                bridge_id=bridge,
            )
            for n in numbers
        ]
    return teeth


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def case_version(case: CaseInfo) -> str:
    """Changes when what matters for re-fetching changes: status and flags, CaseSentDate, SentToLab,
    surface scans and their TimeStamps, attached images and their TimeStamps."""
    return fingerprint(
        case_status(case),
        (case.is_created, case.is_scanned, case.is_modelled),
        _iso(case.case_sent_date),
        case.sent_to_lab,
        sorted((s.id, _iso(s.timestamp)) for s in case.surface_scans),
        sorted((i.id, i.name, _iso(i.timestamp)) for i in case.attached_images),
    )


def case_to_order(
    case: CaseInfo, *, account: str, connection: str | None = None, server_host: str | None = None
) -> Order:
    """`account` is the configured connection id of the Dental Desktop server; `server_host` the host
    the images are fetched from (recorded on the artifacts, never a full URL)."""
    status = case_status(case)
    scan_times = [s.timestamp for s in case.surface_scans if s.timestamp is not None]
    procedures = list(dict.fromkeys(i.name for i in case.indications if i.name))
    lab = case.sent_to_lab
    return Order(
        vendor=VENDOR,
        account=account,
        connection=connection or account,
        order_id=case.case_id,
        case_id=case.case_id,
        stage=_STAGES[status],
        vendor_status=status,
        procedure=", ".join(procedures) or None,
        teeth=teeth_of(case.indications),
        patient=Patient(
            full_name=case.patient_name or None,
            vendor_patient_id=case.patient_integration_id or None,
        ),
        lab=Party(name=lab) if lab and lab != IN_HOUSE else None,
        scanned_at=max(scan_times, default=None),
        created_at=case.creation_date,
        due_at=case.delivery_date,
        artifacts=[
            ArtifactRef(
                kind="clinical_photo", vendor_ref=image.id, name=image.name or None, url_host=server_host
            )
            for image in case.attached_images
        ],
        version=case_version(case),
        vendor_record=case.record,
    )
