"""What the simulated Dental Desktop server holds; tests change it directly between calls.

3shape-dental-desktop-pms-integration.txt, "/GetAvailableClientList" (ClientInfo, ModuleInfo) and
"/GetCasesForPatient" (CaseInfo, IndicationInfo, AttachedImageInfo, SurfaceScanInfo): one dataclass
per documented class. A case has one status: Created (not yet scanned), Scanned (scans yet to be
modelled) or Modelled.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Literal

from simulators.threeshape import images
from simulators.threeshape.requests import RequestPool

CaseStatus = Literal["Created", "Scanned", "Modelled"]
NEVER = dt.datetime(1, 1, 1)  # .NET DateTime.MinValue: "a minimal value if the case was never sent"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _guid() -> str:
    return str(uuid.uuid4())


@dataclass
class Module:
    id: str = "ThreeShape.TRIOS"
    title: str = "TRIOS"


@dataclass
class Client:
    hostname: str
    client_id: str = field(default_factory=_guid)
    is_busy: bool = False
    operator_name: str = "Default operator"
    operator_id: str = field(default_factory=lambda: f"{_guid()}_{_guid()}")
    modules: list[Module] = field(default_factory=lambda: [Module()])


@dataclass
class Indication:
    first: int  # From, UNN
    last: int  # To, UNN
    name: str = "Crown"
    shade: str = "A2"


@dataclass
class SurfaceScan:
    first: int  # From, UNN: 1–16 upper jaw, 17–32 lower jaw
    last: int
    scan_type: str = "Jaw"
    sectioned: bool = False
    physically_prepared: bool = False
    timestamp: dt.datetime = field(default_factory=_now)
    id: str = field(default_factory=_guid)


@dataclass
class AttachedImage:
    name: str
    data: bytes
    timestamp: dt.datetime = field(default_factory=_now)
    id: str = field(default_factory=_guid)


@dataclass
class Case:
    integration_id: str
    patient_name: str
    case_id: str = field(default_factory=_guid)
    status: CaseStatus = "Created"
    creation_date: dt.datetime = field(default_factory=_now)
    delivery_date: dt.datetime = NEVER
    sent_to_lab: str = "In-house"
    case_sent_date: dt.datetime = NEVER
    indications: list[Indication] = field(default_factory=list)
    surface_scans: list[SurfaceScan] = field(default_factory=list)
    attached_images: list[AttachedImage] = field(default_factory=list)


@dataclass
class Faults:
    """Misbehaviour on demand; `methods` limits it to some methods (lower-case names), None = all."""

    methods: frozenset[str] | None = None
    delay_s: float = 0.0
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses answered, one per request
    malformed_xml: bool = False
    declared_encoding: str | None = None  # rewrite the XML declaration to name this encoding
    entity_expansion: bool = False  # "billion laughs"
    external_entity: bool = False  # a SYSTEM entity naming a local file
    wrap_in_string: bool = False  # the XML as the text of a WCF <string> element
    oversize_bytes: int = 0  # pad the XML with this many bytes of whitespace

    def applies_to(self, method: str) -> bool:
        return self.methods is None or method in self.methods


@dataclass(frozen=True)
class SeenRequest:
    method: str
    query: str
    had_credentials: bool
    authorized: bool


@dataclass
class DentalDesktopState:
    users: dict[str, str] = field(default_factory=lambda: {"Sam": "qwerty123"})
    clients: list[Client] = field(default_factory=lambda: [Client(hostname="UA-DTC-VHR")])
    cases: dict[str, Case] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    requests: list[SeenRequest] = field(default_factory=list)
    pool: RequestPool = field(default_factory=RequestPool)  # patients, the request pool, the statuses

    def __post_init__(self) -> None:
        self.pool.client_ids = lambda: {c.client_id for c in self.clients}
        self.pool.on_case = lambda integration_id: self.create_case(integration_id)
        self.pool.has_case = lambda case_id: case_id in self.cases

    # --- how a case changes over time --------------------------------------------------------

    def create_case(
        self,
        integration_id: str = "123",
        patient_name: str = "John Smith",
        *,
        indications: list[Indication] | None = None,
        delivery_date: dt.datetime = NEVER,
        creation_date: dt.datetime | None = None,
    ) -> Case:
        case = Case(
            integration_id,
            patient_name,
            indications=list(indications or [Indication(3, 3, "Crown", "Wax A1")]),
            delivery_date=delivery_date,
        )
        if creation_date is not None:
            case.creation_date = creation_date
        self.cases[case.case_id] = case
        return case

    def scan(self, case_id: str, *scans: SurfaceScan) -> Case:
        """Add surface scans (default: both jaws) and mark the case Scanned."""
        case = self.cases[case_id]
        case.surface_scans.extend(scans or (SurfaceScan(1, 16), SurfaceScan(17, 32)))
        case.status = "Scanned"
        return case

    def rescan(self, case_id: str, scan_id: str) -> Case:
        """The scan file was modified: its TimeStamp moves on."""
        case = self.cases[case_id]
        for scan in case.surface_scans:
            if scan.id == scan_id:
                scan.timestamp = max(_now(), scan.timestamp + dt.timedelta(seconds=1))
        return case

    def model(self, case_id: str) -> Case:
        case = self.cases[case_id]
        case.status = "Modelled"
        return case

    def attach_image(
        self, case_id: str, data: bytes | None = None, name: str | None = None
    ) -> AttachedImage:
        case = self.cases[case_id]
        image_id = _guid()
        if data is None:
            data = images.jpeg(64 + 16 * len(case.attached_images))
        if name is None:
            name = _guid() + (".png" if data.startswith(b"\x89PNG") else ".jpeg")
        image = AttachedImage(name, data, id=image_id)
        case.attached_images.append(image)
        return image

    def send_to_lab(self, case_id: str, lab: str = "My CoDx", when: dt.datetime | None = None) -> Case:
        case = self.cases[case_id]
        case.sent_to_lab = lab
        case.case_sent_date = when or _now()
        return case
