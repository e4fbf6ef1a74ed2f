"""iTero / Align order record → normalized `Order` (EVENTS.md; itero-dpms-api.txt Get Order by RX ID,
Scan Status, Procedures and types)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers.download import host_of
from consumers.privacy import PatientKeys
from consumers.records import as_int, as_text, as_utc, ci_get
from schemas.events import ArtifactKind, ArtifactRef, Order, Party, Patient, Stage, Tooth
from schemas.ids import fingerprint, rx_key
from schemas.teeth import universal_to_fdi

# Scan Status table: what each status means for the coarse lifecycle.
_STAGES: dict[str, Stage] = {
    "completed": "completed",
    "itero modeling": "modeling",
    "lab review": "review",
    "scanning": "pending",
    "itero milling": "production",
    "exporting to doctor site": "production",
    "align production": "production",
}

# Download Scan asset types, and the order fields whose returned links to prefer for each.
ASSETS: dict[str, tuple[ArtifactKind, tuple[str, ...], tuple[str, ...]]] = {
    "IDE": ("scan_3d", ("IDEFileUrl",), ("IdeFileUrl",)),
    "IMAGE_GALLERY": ("images", ("ThumbnailsUrl",), ("ThumbnailsDownloadUrl",)),
    "SCREEN_CAPTURE": ("screen_captures", ("ScreenCaptureUrl",), ("ScreenCaptureFileUrl",)),
}


# Patient data in an order record (Get Order by RX ID, Get Orders for Practice: PatientFirstName,
# PatientLastName, PatientChartNumber, PatientId; Notes, the doctor's free text) and in the shapes of
# Send Rx / Patient Search (FirstName, LastName, ChartNumber, DateOfBirth, Gender), should they appear.
PATIENT_KEYS = PatientKeys(anywhere=frozenset({"notes", "firstname", "lastname", "chartnumber", "dateofbirth",
                                               "gender"}))


def stage_of(status: str | None) -> Stage:
    return _STAGES.get((status or "").strip().lower(), "unknown")


def returned_link(record: dict[str, Any], asset: str) -> str | None:
    _, url_keys, flat_keys = ASSETS[asset]
    urls = ci_get(record, "Urls")
    link = ci_get(urls, *url_keys) if isinstance(urls, dict) else None
    return as_text(link or ci_get(record, *flat_keys))


def version_of(record: dict[str, Any]) -> str:
    """Status and scan date: a new status or a re-scan means new files (Scan Status, "How to handle")."""
    status = (as_text(ci_get(record, "Status")) or "").lower()
    scanned = as_utc(ci_get(record, "ScanningDate"))
    return fingerprint(status, scanned.isoformat() if scanned else as_text(ci_get(record, "ScanningDate")))


def _teeth(record: dict[str, Any]) -> list[Tooth]:
    teeth: list[Tooth] = []
    for prep in ci_get(record, "Preps") or []:
        if not isinstance(prep, dict):
            continue
        universal = as_int(ci_get(prep, "AdaId"))
        try:
            fdi = universal_to_fdi(universal) if universal is not None else None
        except ValueError:
            fdi = None
        teeth.append(Tooth(universal=universal, fdi=fdi,
                           unit_type=as_text(ci_get(prep, "UnitTypeName", "UnitTypeId")),
                           bridge_id=as_text(ci_get(prep, "BridgeId"))))
    return teeth


def normalize(record: dict[str, Any], *, vendor: str, account: str, connection: str,
              resolve_link: Callable[[str, str, str | None], str]) -> Order:
    """`resolve_link(order_id, asset, returned_link)` gives the URL to download each asset from."""
    raw_rx = as_text(ci_get(record, "RxId"))
    rx_id = rx_key(raw_rx) if raw_rx else None
    order_id = as_text(ci_get(record, "OrderId")) or rx_id or "?"
    status = as_text(ci_get(record, "Status"))
    patient = Patient(first_name=as_text(ci_get(record, "PatientFirstName")),
                      last_name=as_text(ci_get(record, "PatientLastName")),
                      chart_number=as_text(ci_get(record, "PatientChartNumber")),
                      vendor_patient_id=as_text(ci_get(record, "PatientId")))
    artifacts = []
    for asset, (kind, _, _) in ASSETS.items():
        url = resolve_link(order_id, asset, returned_link(record, asset))
        artifacts.append(ArtifactRef(kind=kind, vendor_ref=asset, name=f"{order_id}-{asset}.zip",
                                     url_host=host_of(url) or None))
    return Order(
        vendor=vendor,
        account=account,
        account_name=as_text(ci_get(record, "CompanyName")),
        connection=connection,
        order_id=order_id,
        rx_id=rx_id,
        order_code=as_text(ci_get(record, "OrderCode")),
        stage=stage_of(status),
        vendor_status=status,
        procedure=as_text(ci_get(record, "ProcedureName", "ProcedureTypeName", "CaseType")),
        teeth=_teeth(record),
        patient=patient,
        doctor=Party(id=as_text(ci_get(record, "DoctorId")), name=as_text(ci_get(record, "DoctorName")),
                     license=as_text(ci_get(record, "DoctorLicenseNumber"))),
        clinic=Party(id=as_text(ci_get(record, "CompanyId")), name=as_text(ci_get(record, "CompanyName"))),
        lab=Party(id=as_text(ci_get(record, "LabId")), name=as_text(ci_get(record, "LabName"))),
        scanned_at=as_utc(ci_get(record, "ScanningDate")),
        due_at=as_utc(ci_get(record, "DueDate")),
        scanner=as_text(ci_get(record, "ScannerModelDescription", "ScannerModelId")),
        notes=as_text(ci_get(record, "Notes")),
        viewer_url=as_text(ci_get(ci_get(record, "Urls"), "MyiTero3DViewerUrl")
                           or ci_get(record, "ViewerUrl")),
        artifacts=artifacts,
        version=version_of(record),
        vendor_record=record,
    )
