"""The XML bodies the simulated server answers with, as .NET's XmlSerializer writes them.

3shape-dental-desktop-pms-integration.txt: "/GetAvailableClientList" (ArrayOfClientInfo),
"/GetCasesForPatient" (ArrayOfCaseInfo), "/GetAttachedImage" ("an XML string that can be deserialized
to a raw byte array": XmlSerializer writes byte[] as <base64Binary>), "/GetRequestStatusById"
(RequestStatus, with the codes of "Request status reference"); plus hostile bodies on demand.
"""

from __future__ import annotations

import base64
import datetime as dt
from html import escape

from simulators.threeshape.requests import DESCRIPTIONS
from simulators.threeshape.state import AttachedImage, Case, Client, SurfaceScan

_NS = 'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
_WCF_NS = "http://schemas.microsoft.com/2003/10/Serialization/"
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

# "Request status reference": the codes this simulator answers with and their descriptions.
STATUS_DESCRIPTIONS = {
    103: "You should set at least the case ID to view the case",
    104: "No cases found with the specified case ID",
    101: "You should set at least the integration ID for creating a case request.",
}


def _date(value: dt.datetime) -> str:
    if value.tzinfo is None:
        return value.isoformat()  # DateTimeKind.Unspecified: no offset
    if value.utcoffset() == dt.timedelta(0):
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _el(name: str, value: str) -> str:
    return f"<{name}>{escape(value, quote=False)}</{name}>"


def client_list(clients: list[Client], generated: dt.datetime) -> str:
    entries = []
    for c in clients:
        modules = "".join(
            f"<ModuleInfo>{_el('Id', m.id)}{_el('Title', m.title)}</ModuleInfo>" for m in c.modules
        )
        entries.append(
            "<ClientInfo>"
            f"{_el('OperatorId', c.operator_id)}{_el('TimeStamp', _date(generated))}"
            f"{_el('ClientId', c.client_id)}{_el('Hostname', c.hostname)}{_el('IsBusy', _bool(c.is_busy))}"
            f"<Modules>{modules}</Modules>{_el('OperatorName', c.operator_name)}"
            "</ClientInfo>"
        )
    return f"{_DECLARATION}<ArrayOfClientInfo {_NS}>{''.join(entries)}</ArrayOfClientInfo>"


def _image(i: AttachedImage) -> str:
    return (
        f"<AttachedImageInfo>{_el('Name', i.name)}{_el('Id', i.id)}"
        f"{_el('TimeStamp', _date(i.timestamp))}</AttachedImageInfo>"
    )


def _scan(s: SurfaceScan) -> str:
    return (
        f"<SurfaceScanInfo>{_el('Id', s.id)}{_el('From', str(s.first))}{_el('To', str(s.last))}"
        f"{_el('ScanType', s.scan_type)}{_el('Sectioned', _bool(s.sectioned))}"
        f"{_el('PhysicallyPrepared', _bool(s.physically_prepared))}"
        f"{_el('TimeStamp', _date(s.timestamp))}</SurfaceScanInfo>"
    )


def case_list(cases: list[Case]) -> str:
    """CaseInfo in the doc example's element order, plus CaseCreationDate and IsModelled, which the
    field list names but the example leaves out."""
    entries = []
    for c in cases:
        indications = "".join(
            f"<IndicationInfo>{_el('From', str(i.first))}{_el('To', str(i.last))}"
            f"{_el('IndicationName', i.name)}{_el('Shade', i.shade)}</IndicationInfo>"
            for i in c.indications
        )
        entries.append(
            "<CaseInfo>"
            f"{_el('CaseId', c.case_id)}{_el('PatientName', c.patient_name)}"
            f"{_el('PatientIntegrationId', c.integration_id)}{_el('SentToLab', c.sent_to_lab)}"
            f"{_el('CaseSentDate', _date(c.case_sent_date))}{_el('DeliveryDate', _date(c.delivery_date))}"
            f"{_el('CaseCreationDate', _date(c.creation_date))}"
            f"{_el('IsModelled', _bool(c.status == 'Modelled'))}"
            f"<Indications>{indications}</Indications>"
            f"<AttachedImages>{''.join(_image(i) for i in c.attached_images)}</AttachedImages>"
            f"<SurfaceScans>{''.join(_scan(s) for s in c.surface_scans)}</SurfaceScans>"
            "</CaseInfo>"
        )
    return f"{_DECLARATION}<ArrayOfCaseInfo {_NS}>{''.join(entries)}</ArrayOfCaseInfo>"


def image_bytes(data: bytes) -> str:
    return f"{_DECLARATION}<base64Binary {_NS}>{base64.b64encode(data).decode()}</base64Binary>"


def request_status(code: int, request_id: str = "00000000-0000-0000-0000-000000000000") -> str:
    description = STATUS_DESCRIPTIONS.get(code) or DESCRIPTIONS[code]
    return (
        f"{_DECLARATION}<RequestStatus {_NS}>{_el('RequestId', request_id)}"
        f"{_el('StatusCode', str(code))}{_el('StatusDescription', description)}"
        "</RequestStatus>"
    )


def boolean(value: bool) -> str:
    """RemoveRequestById's "Boolean value", as a WCF service serializes a bool."""
    return f'<boolean xmlns="{_WCF_NS}">{_bool(value)}</boolean>'


def wcf_string(xml: str) -> str:
    """The XML as the escaped text of a WCF-serialized string (what a WCF service returning a string
    would send); clients may have to unwrap one level."""
    return f'<string xmlns="{_WCF_NS}">{escape(xml, quote=False)}</string>'


def malformed(xml: str) -> str:
    """Cut in the middle of an element: not well-formed."""
    return xml[: max(len(xml) // 2, len(_DECLARATION) + 5)]


def declared_encoding(xml: str, encoding: str) -> str:
    """The same document with its XML declaration naming `encoding` (e.g. "UTF-7" or garbage)."""
    return f'<?xml version="1.0" encoding="{encoding}"?>\n' + xml.removeprefix(_DECLARATION)


def billion_laughs() -> str:
    lines = ['<!ENTITY lol0 "lol">']
    lines += [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    return (
        f'{_DECLARATION}<!DOCTYPE ArrayOfCaseInfo [\n{chr(10).join(lines)}\n]>\n'
        "<ArrayOfCaseInfo><CaseInfo><PatientName>&lol9;</PatientName></CaseInfo></ArrayOfCaseInfo>"
    )


def external_entity() -> str:
    return (
        f'{_DECLARATION}<!DOCTYPE ArrayOfCaseInfo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        "<ArrayOfCaseInfo><CaseInfo><PatientName>&xxe;</PatientName></CaseInfo></ArrayOfCaseInfo>"
    )
