"""One order, one id, one key: an upload callback naming a case, or only a file, in any shape, ends with
the case's files stored and announced once, under the order's number and partition key, whether the
callback or the poll came first (meditlink-openapi.txt §3.3.2, §3.4.1, §3.4.2, §3.5.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schemas.envelope import Envelope
from schemas.topics import ARTIFACT_STORED, ORDER_UPDATED
from simulators.meditlink import LAB_UUID
from simulators.meditlink.records import Case
from tests.events import collect, of_type, settle
from tests.meditlink.conftest import Stack

Shape = Callable[[str, str], dict[str, Any]]

CASE_SHAPES: dict[str, Shape] = {
    "flat": lambda case, file: {"uuid": file, "caseUuid": case, "status": "SUCCESS"},
    "upper-case": lambda case, file: {"FILEUUID": file, "CASEUUID": case, "STATUS": "SUCCESS"},
    "snake_case": lambda case, file: {"file_uuid": file, "case_uuid": case, "result": "done"},
    "nested": lambda case, file: {"data": {"case": {"uuid": case}, "file": {"uuid": file}}},
    "case only": lambda case, file: {"caseUuid": case},
}
FILE_SHAPES: dict[str, Shape] = {
    "fileUuid": lambda case, file: {"fileUuid": file, "status": "SUCCESS"},
    "bare uuid": lambda case, file: {"uuid": file},
    "nested": lambda case, file: {"result": {"file": {"UUID": file}}, "state": "SUCCESS"},
}


def _topics(stack: Stack) -> list[str]:
    return [stack.topics.events, stack.topics.artifacts]


def _stored(events: list[Envelope]) -> list[Envelope]:
    return of_type(events, ARTIFACT_STORED)


async def _callback(stack: Stack, http: Any, body: dict[str, Any]) -> None:
    response = await http.post(stack.hook, json=body)
    assert response.status_code == 202


async def _stored_once_under_the_order(stack: Stack, case: Case, number: int) -> None:
    """Exactly one order.updated and one artifact.stored per case file, all under the order number."""
    events = await settle(stack.bus, _topics(stack), quiet_s=1.5)
    announced = of_type(events, ORDER_UPDATED) + _stored(events)
    assert not [e for e in announced if e.subject in stack.sim.cases]  # never a case uuid as order id
    ours = [e for e in announced if e.subject == str(number)]
    assert sorted(e.json_data()["file_name"] for e in _stored(ours)) == sorted(
        f"{f.uuid}.stl.7z" for f in case.files)
    assert len(of_type(ours, ORDER_UPDATED)) == 1
    assert {e.partitionkey for e in ours} == {f"meditlink:{LAB_UUID}:{number}"}
    assert {e.json_data()["order"]["order_id"] for e in _stored(ours)} == {str(number)}


def _ordered_case(stack: Stack) -> tuple[Case, int]:
    case = stack.sim.create_case(files=[("maxillary.meditMesh", 6_000), ("mandibular.meditMesh", 5_000)])
    return case, stack.sim.create_order(case.uuid).number


@pytest.mark.parametrize("shape", CASE_SHAPES.values(), ids=CASE_SHAPES.keys())
async def test_a_callback_then_a_poll_of_the_same_case_store_its_files_once_under_the_order(
        stack: Stack, worker: object, http: Any, shape: Shape) -> None:
    case, number = _ordered_case(stack)
    await _callback(stack, http, shape(case.uuid, case.files[0].uuid))
    await collect(stack.bus, _topics(stack), lambda ev: len(_stored(ev)) >= 2)
    assert await stack.poller(http).poll_once() == 1
    await _stored_once_under_the_order(stack, case, number)


async def test_a_poll_then_a_callback_of_the_same_case_store_its_files_once_under_the_order(
        stack: Stack, worker: object, http: Any) -> None:
    case, number = _ordered_case(stack)
    assert await stack.poller(http).poll_once() == 1
    await collect(stack.bus, _topics(stack), lambda ev: len(_stored(ev)) >= 2)
    await _callback(stack, http, {"uuid": case.files[1].uuid, "caseUuid": case.uuid, "status": "SUCCESS"})
    await _stored_once_under_the_order(stack, case, number)
    assert stack.requests("/v1/orders/search") == 1  # the poller's state named the order: no search


async def test_a_callback_and_a_poll_at_once_store_the_files_once(stack: Stack, worker: object,
                                                                    http: Any) -> None:
    case, number = _ordered_case(stack)
    await _callback(stack, http, {"case_uuid": case.uuid})
    assert await stack.poller(http).poll_once() == 1
    await collect(stack.bus, _topics(stack), lambda ev: len(_stored(ev)) >= 2)
    await _stored_once_under_the_order(stack, case, number)


@pytest.mark.parametrize("shape", FILE_SHAPES.values(), ids=FILE_SHAPES.keys())
async def test_a_callback_naming_only_a_file_stores_it_once_under_its_order(
        stack: Stack, worker: object, http: Any, shape: Shape) -> None:
    stack.sim.create_order(stack.sim.create_case().uuid)  # another order, updated before ours
    case, number = _ordered_case(stack)
    await _callback(stack, http, shape(case.uuid, case.files[1].uuid))
    await collect(stack.bus, _topics(stack), lambda ev: len(_stored(ev)) >= 2)
    assert await stack.poller(http).poll_once() == 2
    await _stored_once_under_the_order(stack, case, number)
    assert not await settle(stack.bus, [stack.topics.deadletter], quiet_s=0.3)


async def test_the_uploaded_file_a_callback_names_is_stored_once_though_file_types_omit_it(
        stack: Stack, worker: object, http: Any) -> None:
    case, number = _ordered_case(stack)
    upload = stack.sim.add_file(case.uuid, "mandible.obj.general.meditMesh", 3_000, "ATTACHED_DATA")
    await _callback(stack, http, {"fileUuid": upload.uuid, "status": "SUCCESS"})
    events = await collect(stack.bus, _topics(stack), lambda ev: len(_stored(ev)) >= 3)
    kinds = {e.json_data()["file_name"]: e.json_data()["kind"] for e in _stored(events)}
    assert kinds[f"{upload.uuid}.stl.7z"] == "attachment"  # file_types is SCAN_DATA only
    assert await stack.poller(http).poll_once() == 1
    await _stored_once_under_the_order(stack, case, number)


async def test_a_callback_for_a_case_without_an_order_is_stored_under_the_case(stack: Stack, worker: object,
                                                                               http: Any) -> None:
    case = stack.sim.create_case(files=[("maxillary.meditMesh", 4_000)], group_uuid=LAB_UUID)
    await _callback(stack, http, {"fileUuid": case.files[0].uuid})
    events = await collect(stack.bus, _topics(stack), lambda ev: len(_stored(ev)) >= 1)
    stored, = _stored(events)
    assert stored.subject == case.uuid and stored.partitionkey == f"meditlink:{LAB_UUID}:{case.uuid}"


async def test_a_file_no_recent_case_lists_is_dead_lettered_with_the_reason(stack: Stack, worker: object,
                                                                            http: Any) -> None:
    stack.sim.create_case(group_uuid=LAB_UUID)
    await _callback(stack, http, {"fileUuid": "0b7c1f9e-0000-4000-8000-000000000000"})
    letter, = await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    assert "is in none of the 1 most recently updated cases" in letter.json_data()["reason"]
