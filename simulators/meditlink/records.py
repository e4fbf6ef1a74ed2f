"""Plain records of the simulated Medit Link cloud and their date formats.

Field meanings follow meditlink-openapi.txt §3.1–3.5 and Appendix A (Code Define).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

# Appendix A. The doc's tables lost their code column; FORM/SCAN, PENDING/CANCELED/ACCEPTED/REJECTED,
# SCAN_DATA/ATTACHED_DATA appear in examples, the rest is inferred from the descriptions.
CASE_STATUSES = ("FORM", "SCAN", "SCAN_RAW", "CAD", "CAM", "MILL", "COMPLETED")
ORDER_STATUSES = ("PENDING", "CANCELED", "REJECTED", "ACCEPTED", "DELIVERING", "REFUNDED", "COMPLETED")
FILE_TYPES = ("SCAN_DATA", "CAD_DATA", "CAM_DATA", "MILL_DATA", "ATTACHED_DATA", "SCAN_RAW_DATA")
CONVERT_TYPES = ("obj", "stl", "ply")
# FAQ "Do you provide standard file type?": extensions that can be converted.
CONVERTIBLE_SUFFIXES = (".meditMesh", ".meditImportedMesh", ".meditLibraryInfo", ".meditCTMesh")
ALL_SCOPES = ("USER", "GROUP", "CASE", "FILE", "ORDER")


def iso(ms: int | None) -> str:
    """`2023-12-07T07:07:14Z` as in every example; an unset date is `""` (see dateScanned)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(seconds: float) -> str:
    """`2023-12-07T07:15:02.627Z`, the format of dateExpired (§3.4.1)."""
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def misread_iso(ms: int) -> str:
    """Render epoch milliseconds as if they were seconds, as the §3.5.2 example does for buyer/seller
    dates (`"+51036-03-17T00:56:40Z"`); years beyond 9999 do not fit `datetime`, hence by hand."""
    days, rest = divmod(ms, 86400)
    # Howard Hinnant's civil_from_days.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{year:05d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}Z"


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)  # empty: any redirect_uri is accepted
    scopes: tuple[str, ...] = ALL_SCOPES


@dataclass
class Group:
    uuid: str
    name: str
    type: str  # CLINIC | LAB
    created_ms: int
    updated_ms: int
    user_name: str = ""
    office_phone: str = "2193-9600"
    address: dict[str, str] = field(
        default_factory=lambda: {
            "state": "Seoul",
            "city": "Seongbuk-gu",
            "postal": "02855",
            "detail1": "Medit Company, 19 Inchon-ro 22-gil",
            "detail2": "",
        }
    )


@dataclass
class User:
    email: str
    password: str
    name: str
    group_uuid: str
    created_ms: int
    updated_ms: int


@dataclass
class CaseFile:
    uuid: str
    name: str
    size: int  # reported size of the original; also the payload size of each archive member
    file_type: str
    created_ms: int
    updated_ms: int
    hostile: bool = False  # serve an archive with `../` and absolute-path members


@dataclass
class Case:
    uuid: str
    group_uuid: str  # the owning clinic
    name: str
    status: str
    patient_name: str
    patient_code: str
    created_ms: int
    updated_ms: int
    scanned_ms: int | None = None
    tags: list[str] = field(default_factory=list)
    files: list[CaseFile] = field(default_factory=list)
    form_type: str = "TEETH"
    form_items: list[dict[str, object]] = field(default_factory=list)
    multi_occlusion: list[dict[str, object]] = field(default_factory=list)
    bridges: list[list[int]] = field(default_factory=list)


@dataclass
class Order:
    number: int
    case_uuid: str
    buyer_uuid: str
    seller_uuid: str
    status: str
    created_ms: int
    updated_ms: int
    desired_delivery_ms: int | None = None
    description: str = ""
    delivery: list[dict[str, object]] = field(default_factory=list)
    share_patient_name: bool = True


@dataclass
class AccessToken:
    value: str
    client_id: str
    email: str
    scopes: tuple[str, ...]
    expires_at: float
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    value: str
    client_id: str
    email: str
    scopes: tuple[str, ...]
    expires_at: float
    revoked: bool = False
    spent: bool = False  # used once and replaced (rotation): presenting it again is a double refresh


@dataclass
class AuthCode:
    value: str
    client_id: str
    email: str
    scopes: tuple[str, ...]
    redirect_uri: str
    expires_at: float
    used: bool = False


@dataclass
class Registration:
    """A file registered by `POST /v1/files` (§3.4.2) and possibly uploaded (§3.4.3)."""

    uuid: str
    case_uuid: str
    name: str
    size: int
    md5_b64: str
    callback_url: str
    expires_at: float
    uploaded_size: int | None = None  # set once a PUT with the right Content-MD5 arrived (bytes not kept)
    processed: bool = False


@dataclass
class Presigned:
    key: str
    expires_at: float
    method: str  # GET (download) or PUT (upload)


@dataclass
class Fault:
    path_substring: str
    remaining: int
    status: int | None = None  # None: only delay
    delay_s: float = 0.0
    retry_after: float | None = None
    method: str | None = None


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str


@dataclass
class CallbackRecord:
    url: str
    payload: dict[str, object]
    status_code: int | None  # None: the POST failed
    error: str = ""


def tooth_item(tooth_no: int, category: str = "CROWN", material: str = "ZIRCONIA") -> dict[str, object]:
    """One formInformation item as in §3.3.2 (FDI toothNo)."""

    def display(code: str) -> str:
        return code.replace("___", " + ").replace("_", " ").title()

    return {
        "category": category,
        "categoryDisplayName": display(category),
        "method": "ANATOMIC",
        "methodDisplayName": "Anatomic",
        "material": material,
        "materialDisplayName": display(material),
        "shade": "NONE_SHADE",
        "toothNo": tooth_no,
        "jawType": "",
        "multiDieNo": 0,
    }
