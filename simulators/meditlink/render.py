"""JSON bodies exactly shaped as the examples of meditlink-openapi.txt §3.1.1 (me), §3.2.1 (group),
§3.3.1–3.3.2 (cases), §3.4.4 (file), §3.5.1–3.5.3 (orders), seen from the caller's group.
"""

from __future__ import annotations

from simulators.meditlink.records import Case, CaseFile, Group, Order, User, iso, misread_iso
from simulators.meditlink.state import MeditSimState

SCHEMA = "s1"


def group_summary(group: Group) -> dict[str, object]:
    return {"uuid": group.uuid, "name": group.name, "type": group.type}


def group_full(group: Group, *, misread_dates: bool = False) -> dict[str, object]:
    date = misread_iso if misread_dates else iso
    return {
        "dateUpdated": date(group.updated_ms),
        "dateCreated": date(group.created_ms),
        "uuid": group.uuid,
        "name": group.name,
        "description": "",
        "type": group.type,
        "contact": {"userName": group.user_name, "cellPhone": "", "officePhone": group.office_phone},
        "address": dict(group.address),
        "homePage": "",
    }


def me(user: User, group: Group) -> dict[str, object]:
    return {
        "schemaVersion": SCHEMA,
        "dateUpdated": iso(user.updated_ms),
        "dateCreated": iso(user.created_ms),
        "email": user.email,
        "name": user.name,
        "profileImage": None,
        "group": {
            "dateUpdated": iso(group.updated_ms),
            "dateCreated": iso(group.created_ms),
            "uuid": group.uuid,
            "name": group.name,
            "description": "",
            "type": group.type,
        },
    }


def patient(state: MeditSimState, case: Case, viewer: str) -> dict[str, str]:
    """§3.3.1: a lab never sees patient.code, and patient.name only if the clinic shared it."""
    own = case.group_uuid == viewer
    return {
        "name": case.patient_name if state.shares_patient_name(case, viewer) else "",
        "code": case.patient_code if own else "",
    }


def case_file(f: CaseFile) -> dict[str, object]:
    return {
        "name": f.name,
        "size": f.size,
        "uuid": f.uuid,
        "dateUpdated": iso(f.updated_ms),
        "dateCreated": iso(f.created_ms),
        "fileType": f.file_type,
    }


def case_summary(state: MeditSimState, case: Case, viewer: str) -> dict[str, object]:
    return {
        "dateUpdated": iso(case.updated_ms),
        "dateCreated": iso(case.created_ms),
        "dateScanned": iso(case.scanned_ms),
        "uuid": case.uuid,
        "name": case.name,
        "status": case.status,
        "tags": list(case.tags),
        "patient": patient(state, case, viewer),
    }


def case_detail(state: MeditSimState, case: Case, viewer: str) -> dict[str, object]:
    return {
        **case_summary(state, case, viewer),
        "files": [case_file(f) for f in case.files],
        "formInformation": {"type": case.form_type, "items": [dict(i) for i in case.form_items]},
        "multiOcclusionGroup": [dict(g) for g in case.multi_occlusion],
        "bridges": [list(b) for b in case.bridges],
    }


def order_summary(state: MeditSimState, order: Order, viewer: str) -> dict[str, object]:
    case = state.cases[order.case_uuid]
    brief = case_summary(state, case, viewer)
    return {
        "dateUpdated": iso(order.updated_ms),
        "dateCreated": iso(order.created_ms),
        "dateDesiredDelivery": iso(order.desired_delivery_ms),
        "status": order.status,
        "buyer": group_summary(state.groups[order.buyer_uuid]),
        "seller": group_summary(state.groups[order.seller_uuid]),
        "case": {k: brief[k] for k in ("uuid", "name", "status", "tags", "patient")},
        "orderNumber": order.number,
    }


def order_detail(state: MeditSimState, order: Order, viewer: str) -> dict[str, object]:
    misread = state.misread_group_dates
    return {
        **order_summary(state, order, viewer),
        "buyer": group_full(state.groups[order.buyer_uuid], misread_dates=misread),
        "seller": group_full(state.groups[order.seller_uuid], misread_dates=misread),
        "description": order.description,
        "delivery": [dict(d) for d in order.delivery],
        "schemaVersion": SCHEMA,
        "case": case_detail(state, state.cases[order.case_uuid], viewer),
    }


def order_brief(state: MeditSimState, order: Order) -> dict[str, object]:
    """The short body of §3.5.3 Cancel Order."""
    return {
        "dateUpdated": iso(order.updated_ms),
        "dateCreated": iso(order.created_ms),
        "dateDesiredDelivery": iso(order.desired_delivery_ms),
        "status": order.status,
        "buyer": group_summary(state.groups[order.buyer_uuid]),
        "seller": group_summary(state.groups[order.seller_uuid]),
        "schemaVersion": SCHEMA,
        "orderNumber": order.number,
    }


def page(content: list[dict[str, object]], number: int, size: int, total: int) -> dict[str, object]:
    """The paging envelope of §3.3.1 / §3.5.1 (Spring Data style, `totalPage` singular)."""
    total_pages = (total + size - 1) // size
    return {
        "schemaVersion": SCHEMA,
        "first": number == 0,
        "last": number >= total_pages - 1,
        "size": size,
        "content": content,
        "totalPage": total_pages,
        "page": number,
        "totalElements": total,
        "numberOfElements": len(content),
    }
