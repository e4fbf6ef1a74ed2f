"""A Dental Desktop case → the normalized Order (EVENTS.md, 3Shape column)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from consumers.threeshape.client import DentalDesktopClient
from consumers.threeshape.normalize import case_to_order, jaw_of
from consumers.threeshape.xml import parse_cases
from simulators.threeshape import DentalDesktopState, Indication
from tests.consumers.threeshape.test_xml import CASES


def test_the_doc_case_normalizes() -> None:
    (case,) = parse_cases(CASES)
    order = case_to_order(case, account="clinic-1", server_host="3dd.clinic.local")
    assert (order.vendor, order.account, order.connection) == ("3shape", "clinic-1", "clinic-1")
    assert order.order_id == order.case_id == "7d728802-d04c-4d87-bf7d-dcd48b48fd93"
    assert (order.stage, order.vendor_status) == ("scanned", "Scanned")  # scans present, no status given
    assert order.procedure == "Crown"
    assert [(t.universal, t.fdi, t.unit_type, t.shade) for t in order.teeth] == [(3, 16, "Crown", "Wax A1")]
    assert order.patient is not None
    assert (order.patient.full_name, order.patient.vendor_patient_id) == ("John Smith", "123")
    assert order.lab is not None and order.lab.name == "My CoDx"
    assert order.scanned_at == dt.datetime(2019, 11, 13, 9, 39, 15, tzinfo=dt.UTC)
    assert order.due_at == dt.datetime(2019, 11, 14, 11, 0, tzinfo=dt.UTC)
    assert [(a.kind, a.vendor_ref, a.name, a.url_host) for a in order.artifacts] == [(
        "clinical_photo", "8911a8ff-64c7-44cb-8ab1-45fdd9122397",
        "74d3ac7f-603f-4c4f-9379-f322f0bcc0c0.jpeg", "3dd.clinic.local",
    )]
    assert order.vendor_record["CaseId"] == "7d728802-d04c-4d87-bf7d-dcd48b48fd93"
    assert [jaw_of(s) for s in case.surface_scans] == ["lower", "upper"]


def test_a_bridge_indication_covers_every_tooth_in_both_numberings() -> None:
    (case,) = parse_cases(CASES)
    bridge = dataclasses.replace(case.indications[0], first=19, last=21, name="Bridge")
    order = case_to_order(dataclasses.replace(case, indications=(bridge,)), account="a")
    assert [(t.universal, t.fdi, t.bridge_id) for t in order.teeth] == [
        (19, 36, "19-21"), (20, 35, "19-21"), (21, 34, "19-21"),
    ]


def test_in_house_cases_have_no_lab() -> None:
    (case,) = parse_cases(CASES)
    assert case_to_order(dataclasses.replace(case, sent_to_lab="In-house"), account="a").lab is None


def test_the_same_case_fetched_twice_has_the_same_version() -> None:
    (first,) = parse_cases(CASES)
    (again,) = parse_cases(CASES)
    assert case_to_order(first, account="a").version == case_to_order(again, account="a").version


async def test_a_case_changing_over_time_gets_new_versions_and_stages(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    case = state.create_case("123", "John Smith", indications=[Indication(8, 9, "Bridge", "A2")])
    seen: list[tuple[str, str]] = []

    async def snapshot() -> None:
        (found,) = await client.get_cases_with_status("123")
        order = case_to_order(found, account="clinic-1")
        seen.append((order.stage, order.version))

    await snapshot()
    await snapshot()  # nothing changed
    state.scan(case.case_id)
    await snapshot()
    state.rescan(case.case_id, case.surface_scans[0].id)
    await snapshot()
    state.model(case.case_id)
    await snapshot()
    state.attach_image(case.case_id)
    await snapshot()
    state.send_to_lab(case.case_id, "My CoDx")
    await snapshot()
    stages = [stage for stage, _ in seen]
    assert stages == ["pending", "pending", "scanned", "scanned", "modeling", "modeling", "modeling"]
    versions = [version for _, version in seen]
    assert versions[0] == versions[1]
    assert len(set(versions[1:])) == 6

    (found,) = await client.get_cases_for_patient("123")
    order = case_to_order(found, account="clinic-1")
    assert [(t.universal, t.fdi) for t in order.teeth] == [(8, 11), (9, 21)]
    assert order.artifacts[0].kind == "clinical_photo"
    assert order.lab is not None and order.lab.name == "My CoDx"
