"""Hardened, typed parsing of the Dental Desktop XML answers.

3shape-dental-desktop-pms-integration.txt, "/GetAvailableClientList" (ClientInfo, ModuleInfo),
"/GetCasesForPatient" (CaseInfo, IndicationInfo, AttachedImageInfo, SurfaceScanInfo),
"/GetAttachedImage" (XML-wrapped bytes), "/GetRequestStatusById" (RequestStatus). The size is bounded
before parsing; defusedxml refuses any DTD, entity declaration or external reference.

    PermanentError (consumers.errors)
    └── InvalidResponse         the answer cannot be used
        ├── ResponseTooLarge    more bytes than the bound
        ├── MalformedXml        not well-formed, or a declaration naming an unusable encoding
        ├── UnsafeXml           DTD, entities ("billion laughs"), external references
        ├── UnexpectedXml       well-formed, but not the documented shape
        └── RequestStatusError  a RequestStatus came instead of data (`.status`)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import Element

import defusedxml
import defusedxml.ElementTree

from consumers.errors import PermanentError

CaseStatus = Literal["Created", "Scanned", "Modelled"]
MAX_XML_BYTES = 8 * 1024 * 1024
_COLLECTIONS = frozenset({"Modules", "Indications", "AttachedImages", "SurfaceScans"})
_WCF_STRING = "{http://schemas.microsoft.com/2003/10/Serialization/}string"


class InvalidResponse(PermanentError):
    """The server's answer cannot be used."""


class ResponseTooLarge(InvalidResponse):
    pass


class MalformedXml(InvalidResponse):
    pass


class UnsafeXml(InvalidResponse):
    pass


class UnexpectedXml(InvalidResponse):
    pass


@dataclass(frozen=True)
class RequestStatus:
    """"Request status reference": e.g. 104 "No cases found with the specified case ID"."""

    request_id: str
    code: int
    description: str


class RequestStatusError(InvalidResponse):
    def __init__(self, status: RequestStatus) -> None:
        super().__init__(f"Dental Desktop request status {status.code}: {status.description}")
        self.status = status


@dataclass(frozen=True)
class ModuleInfo:
    id: str
    title: str


@dataclass(frozen=True)
class ClientInfo:
    client_id: str
    hostname: str
    is_busy: bool | None
    operator_name: str
    operator_id: str
    timestamp: dt.datetime | None
    modules: tuple[ModuleInfo, ...]


@dataclass(frozen=True)
class IndicationInfo:
    first: int | None  # From, UNN (Universal)
    last: int | None  # To, UNN
    name: str
    shade: str


@dataclass(frozen=True)
class AttachedImageInfo:
    id: str
    name: str
    timestamp: dt.datetime | None  # in the doc's example, not in its field list


@dataclass(frozen=True)
class SurfaceScanInfo:
    id: str
    first: int | None  # From, UNN
    last: int | None  # To, UNN
    scan_type: str
    sectioned: bool | None
    physically_prepared: bool | None
    timestamp: dt.datetime | None


@dataclass(frozen=True)
class CaseInfo:
    case_id: str
    patient_name: str
    patient_integration_id: str
    sent_to_lab: str
    case_sent_date: dt.datetime | None  # None: .NET's minimal value, "never sent"
    delivery_date: dt.datetime | None
    creation_date: dt.datetime | None
    is_created: bool | None  # the doc names only IsModelled as a field; the others if present
    is_scanned: bool | None
    is_modelled: bool | None
    indications: tuple[IndicationInfo, ...]
    attached_images: tuple[AttachedImageInfo, ...]
    surface_scans: tuple[SurfaceScanInfo, ...]
    record: dict[str, Any] = field(compare=False, repr=False)  # the CaseInfo verbatim
    status: CaseStatus | None = None  # known when fetched with a single status filter


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_root(data: bytes, expected: str, *, max_bytes: int = MAX_XML_BYTES) -> Element:
    """The root element, checked against `expected`; a WCF <string> envelope is unwrapped once."""
    if len(data) > max_bytes:
        raise ResponseTooLarge(f"XML answer of {len(data)} bytes exceeds {max_bytes}")
    root = _fromstring(data)
    if root.tag == _WCF_STRING:
        root = _fromstring((root.text or "").encode())
    name = _local(root.tag)
    if name == "RequestStatus" and expected != "RequestStatus":
        raise RequestStatusError(_request_status(root))
    if name != expected:
        raise UnexpectedXml(f"expected <{expected}>, got <{name}>")
    return root


def _fromstring(data: bytes) -> Element:
    try:
        return defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise UnsafeXml(f"refused XML with {type(exc).__name__}") from exc
    except defusedxml.ElementTree.ParseError as exc:
        raise MalformedXml(f"not well-formed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:
        # expat lets Python decode a declared encoding it does not know itself: an unknown name
        # ("garbage") is a LookupError, a multi-byte codec (UTF-7) a ValueError; both are bad XML.
        raise MalformedXml(f"unusable XML declaration: {type(exc).__name__}") from exc


def _find(el: Element, name: str) -> Element | None:
    return next((child for child in el if _local(child.tag) == name), None)


def _text(el: Element, name: str) -> str:
    child = _find(el, name)
    return (child.text or "").strip() if child is not None else ""


def _items(el: Element, collection: str) -> list[Element]:
    holder = _find(el, collection)
    return list(holder) if holder is not None else []


def _int(el: Element, name: str) -> int | None:
    raw = _text(el, name)
    try:
        return int(raw) if raw else None
    except ValueError:
        raise UnexpectedXml(f"<{name}> is not an integer") from None


def _bool(el: Element, name: str) -> bool | None:
    raw = _text(el, name).lower()
    if raw in ("", "true", "false"):
        return None if not raw else raw == "true"
    raise UnexpectedXml(f"<{name}> is not a boolean")


def _guid(el: Element, name: str) -> str:
    try:
        return str(uuid.UUID(_text(el, name)))
    except ValueError:
        raise UnexpectedXml(f"<{name}> is not a GUID") from None


def _date(el: Element, name: str) -> dt.datetime | None:
    """UTC; None when absent or .NET's DateTime.MinValue; no offset (DateTimeKind.Unspecified) is
    read as UTC, since the doc does not say which zone such values are in."""
    raw = _text(el, name)
    if not raw or raw.startswith("0001-01-01"):
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise UnexpectedXml(f"<{name}> is not a date") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def as_dict(el: Element) -> dict[str, Any]:
    """The element's children as a dict of verbatim texts; collections become lists of dicts."""
    out: dict[str, Any] = {}
    for child in el:
        name = _local(child.tag)
        if name in _COLLECTIONS:
            out[name] = [as_dict(item) for item in child]
        elif len(child):
            out[name] = as_dict(child)
        else:
            out[name] = (child.text or "").strip()
    return out


def _request_status(root: Element) -> RequestStatus:
    code = _int(root, "StatusCode")
    if code is None:
        raise UnexpectedXml("<RequestStatus> without <StatusCode>")
    return RequestStatus(_text(root, "RequestId"), code, _text(root, "StatusDescription"))


def parse_request_status(data: bytes, *, max_bytes: int = 64 * 1024) -> RequestStatus:
    return _request_status(parse_root(data, "RequestStatus", max_bytes=max_bytes))


def parse_boolean(data: bytes) -> bool:
    """A Boolean answer: `<boolean …>true</boolean>` (WCF), `<string>true</string>` or bare `true`."""
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("<"):
        root = _fromstring(data)
        text = (root.text or "").strip()
    value = text.strip('"').lower()
    if value not in ("true", "false"):
        raise UnexpectedXml("expected a Boolean answer")
    return value == "true"


def parse_client_list(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> list[ClientInfo]:
    root = parse_root(data, "ArrayOfClientInfo", max_bytes=max_bytes)
    return [
        ClientInfo(
            client_id=_guid(c, "ClientId"),
            hostname=_text(c, "Hostname"),
            is_busy=_bool(c, "IsBusy"),
            operator_name=_text(c, "OperatorName"),
            operator_id=_text(c, "OperatorId"),
            timestamp=_date(c, "TimeStamp"),
            modules=tuple(ModuleInfo(_text(m, "Id"), _text(m, "Title")) for m in _items(c, "Modules")),
        )
        for c in root
        if _local(c.tag) == "ClientInfo"
    ]


def _case(c: Element) -> CaseInfo:
    return CaseInfo(
        case_id=_guid(c, "CaseId"),
        patient_name=_text(c, "PatientName"),
        patient_integration_id=_text(c, "PatientIntegrationId"),
        sent_to_lab=_text(c, "SentToLab"),
        case_sent_date=_date(c, "CaseSentDate"),
        delivery_date=_date(c, "DeliveryDate"),
        creation_date=_date(c, "CaseCreationDate"),
        is_created=_bool(c, "IsCreated"),
        is_scanned=_bool(c, "IsScanned"),
        is_modelled=_bool(c, "IsModelled"),
        indications=tuple(
            IndicationInfo(_int(i, "From"), _int(i, "To"), _text(i, "IndicationName"), _text(i, "Shade"))
            for i in _items(c, "Indications")
        ),
        attached_images=tuple(
            AttachedImageInfo(_guid(i, "Id"), _text(i, "Name"), _date(i, "TimeStamp"))
            for i in _items(c, "AttachedImages")
        ),
        surface_scans=tuple(
            SurfaceScanInfo(
                id=_text(s, "Id"),
                first=_int(s, "From"),
                last=_int(s, "To"),
                scan_type=_text(s, "ScanType"),
                sectioned=_bool(s, "Sectioned"),
                physically_prepared=_bool(s, "PhysicallyPrepared"),
                timestamp=_date(s, "TimeStamp"),
            )
            for s in _items(c, "SurfaceScans")
        ),
        record=as_dict(c),
    )


def parse_cases(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> list[CaseInfo]:
    root = parse_root(data, "ArrayOfCaseInfo", max_bytes=max_bytes)
    return [_case(c) for c in root if _local(c.tag) == "CaseInfo"]


def parse_image_bytes(data: bytes, *, max_bytes: int) -> bytes:
    """The raw bytes of a serialized byte array (`<base64Binary>`, as XmlSerializer writes byte[])."""
    root = parse_root(data, "base64Binary", max_bytes=max_bytes)
    try:
        return base64.b64decode("".join((root.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise UnexpectedXml("<base64Binary> does not hold base64") from None
