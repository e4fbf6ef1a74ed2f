"""Medit Link order or case record → normalized `Order` (EVENTS.md; meditlink-openapi.txt §3.3.2 Get
Case, §3.5.2 Get Order, Appendix A Case Status / Order Status / Order Delivery Status, FAQ "clinic or lab").
"""

from __future__ import annotations

from typing import Any

from consumers.privacy import PatientKeys
from consumers.records import as_int, as_text, as_utc, ci_get
from schemas.events import ArtifactKind, ArtifactRef, Order, Party, Patient, Stage, Tooth
from schemas.ids import fingerprint
from schemas.teeth import fdi_to_universal

VENDOR = "meditlink"

# Order Status wins over Case Status when there is an order; the case says how far the work got.
_ORDER_STAGES: dict[str, Stage] = {
    "PENDING": "pending", "ACCEPTED": "production", "DELIVERING": "shipped", "COMPLETED": "completed",
    "CANCELED": "canceled", "CANCELLED": "canceled", "REJECTED": "rejected", "REFUNDED": "canceled",
}
_CASE_STAGES: dict[str, Stage] = {
    "FORM": "pending", "SCAN": "scanned", "SCAN_RAW": "scanned", "CAD": "modeling", "CAM": "production",
    "MILL": "production", "COMPLETED": "completed",
}
# Case File Type → artifact kind.
_KINDS: dict[str, ArtifactKind] = {"SCAN_DATA": "scan_3d", "SCAN_RAW_DATA": "scan_3d"}
# FAQ "Do you provide standard file type?": what can be converted to stl/ply/obj.
CONVERTIBLE_SUFFIXES = (".meditmesh", ".meditimportedmesh", ".meditlibraryinfo", ".meditctmesh")


# Patient data in a case or order record (§3.3.1 Search Cases, §3.3.2 Get Case, §3.5.2 Get Order):
# `patient` {name, code}; a case's name (the doc's own example: "Seolah.Jeon's Case") and tags; the
# order's description and a delivery's message (free text); file names, chosen by whoever uploads.
_CASE_TEXT = frozenset({"name", "tags", "description"})
PATIENT_KEYS = PatientKeys(under={"": _CASE_TEXT, "case": _CASE_TEXT, "delivery": frozenset({"message"}),
                                  "files": frozenset({"name"})}, file_names=True)


def stage_of(order_status: str | None, case_status: str | None) -> Stage:
    if order_status and order_status.upper() in _ORDER_STAGES:
        stage = _ORDER_STAGES[order_status.upper()]
        if stage == "pending" and case_status and _CASE_STAGES.get(case_status.upper()) == "scanned":
            return "scanned"
        return stage
    return _CASE_STAGES.get((case_status or "").upper(), "unknown")


def case_files(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in ci_get(case, "files") or [] if isinstance(f, dict) and as_text(ci_get(f, "uuid"))]


def conversion_for(file: dict[str, Any], conversion: str) -> str | None:
    """The `type` to ask for: only meditMesh-like files convert; everything else comes original."""
    name = (as_text(ci_get(file, "name")) or "").lower()
    if conversion == "original" or not name.endswith(CONVERTIBLE_SUFFIXES):
        return None
    return conversion


def archive_name(file: dict[str, Any], conversion: str | None) -> str:
    """Medit's own `downloadFileName` (FAQ: unique, the file uuid): `<uuid>[.<type>].7z`."""
    uuid = as_text(ci_get(file, "uuid")) or "file"
    return f"{uuid}.{conversion}.7z" if conversion else f"{uuid}.7z"


def version_of(order: dict[str, Any] | None, case: dict[str, Any]) -> str:
    """What changes the artifacts or the order's meaning: statuses, case/file update dates, delivery."""
    files = sorted((as_text(ci_get(f, "uuid")), as_text(ci_get(f, "dateUpdated"))) for f in case_files(case))
    delivery = [(as_text(ci_get(d, "status")), as_text(ci_get(d, "dateUpdated")))
                for d in (ci_get(order, "delivery") or []) if isinstance(d, dict)] if order else []
    return fingerprint(as_text(ci_get(order, "status")) if order else None, as_text(ci_get(case, "status")),
                       as_text(ci_get(case, "dateUpdated")), files, delivery)


def _teeth(case: dict[str, Any]) -> list[Tooth]:
    form = ci_get(case, "formInformation") or {}
    bridges = [b for b in ci_get(case, "bridges") or [] if isinstance(b, list)]
    teeth = []
    for item in ci_get(form, "items") or [] if isinstance(form, dict) else []:
        if not isinstance(item, dict):
            continue
        fdi = as_int(ci_get(item, "toothNo"))
        try:
            universal = fdi_to_universal(fdi) if fdi is not None else None
        except ValueError:
            universal = None
        bridge = next((i for i, b in enumerate(bridges) if fdi in b), None)
        teeth.append(Tooth(fdi=fdi, universal=universal, unit_type=as_text(ci_get(item, "category")),
                           material=as_text(ci_get(item, "material")), shade=as_text(ci_get(item, "shade")),
                           bridge_id=str(bridge + 1) if bridge is not None else None))
    return teeth


def _procedure(case: dict[str, Any]) -> str | None:
    form = ci_get(case, "formInformation") or {}
    parts = []
    for item in ci_get(form, "items") or [] if isinstance(form, dict) else []:
        if isinstance(item, dict):
            words = [as_text(ci_get(item, k)) for k in ("categoryDisplayName", "methodDisplayName",
                                                        "materialDisplayName")]
            label = " ".join(w for w in words if w)
            if label and label not in parts:
                parts.append(label)
    return "; ".join(parts) or None


def _party(group: Any) -> Party | None:
    if not isinstance(group, dict):
        return None
    return Party(id=as_text(ci_get(group, "uuid")), name=as_text(ci_get(group, "name")))


def artifact_ref(file: dict[str, Any], skip: list[str], host: str | None) -> ArtifactRef | None:
    """A case file as an artifact, whatever its type; None for a name in `skip` (`skip_suffixes`)."""
    name = as_text(ci_get(file, "name")) or ""
    if name.lower().endswith(tuple(s.lower() for s in skip)):
        return None
    file_type = (as_text(ci_get(file, "fileType")) or "").upper()
    return ArtifactRef(kind=_KINDS.get(file_type, "attachment"), vendor_ref=str(ci_get(file, "uuid")),
                       name=name, url_host=host)


def _artifacts(case: dict[str, Any], file_types: list[str], skip: list[str], conversion: str,
               host: str | None) -> list[ArtifactRef]:
    wanted = {t.upper() for t in file_types}
    refs = [artifact_ref(f, skip, host) for f in case_files(case)
            if (as_text(ci_get(f, "fileType")) or "").upper() in wanted]
    return [r for r in refs if r is not None]


def normalize(order: dict[str, Any] | None, case: dict[str, Any], *, account: str, connection: str,
              file_types: list[str], skip_suffixes: list[str], conversion: str,
              download_host: str | None = None) -> Order:
    """An order (with its case inside) or a case on its own (then order_id is the case uuid)."""
    case_id = as_text(ci_get(case, "uuid"))
    order_id = as_text(ci_get(order, "orderNumber")) if order else None
    patient_record = ci_get(case, "patient") or {}
    patient = Patient(full_name=as_text(ci_get(patient_record, "name")),
                      vendor_patient_id=as_text(ci_get(patient_record, "code")))
    buyer = ci_get(order, "buyer") if order else None
    seller = ci_get(order, "seller") if order else None
    contact = ci_get(buyer, "contact") if isinstance(buyer, dict) else None
    delivery = [d for d in (ci_get(order, "delivery") or []) if isinstance(d, dict)] if order else []
    order_status = as_text(ci_get(order, "status")) if order else None
    case_status = as_text(ci_get(case, "status"))
    vendor_status = "/".join(s for s in (order_status, case_status) if s) or None
    if delivery:
        last = as_text(ci_get(delivery[-1], "status"))
        vendor_status = f"{vendor_status}/{last}" if last else vendor_status
    record = order if order is not None else case
    return Order(
        vendor=VENDOR, account=account, connection=connection,
        order_id=order_id or case_id or "?", case_id=case_id,
        stage=stage_of(order_status, case_status), vendor_status=vendor_status,
        procedure=_procedure(case), teeth=_teeth(case),
        patient=patient if (patient.full_name or patient.vendor_patient_id) else None,
        doctor=Party(name=as_text(ci_get(contact, "userName"))) if isinstance(contact, dict) else None,
        clinic=_party(buyer), lab=_party(seller),
        scanned_at=as_utc(ci_get(case, "dateScanned")),
        created_at=as_utc(ci_get(record, "dateCreated")),
        updated_at=as_utc(ci_get(record, "dateUpdated")),
        due_at=as_utc(ci_get(order, "dateDesiredDelivery")) if order else None,
        notes=as_text(ci_get(order, "description")) if order else None,
        artifacts=_artifacts(case, file_types, skip_suffixes, conversion, download_host),
        version=version_of(order, case),
        vendor_record=record,
    )
