"""The Medit Link upload callback route: any JSON object is kept verbatim; ids and status recognised
where present; an unknown shape is still accepted (meditlink-openapi.txt §3.4.2, Appendix B step 3)."""

from __future__ import annotations

import json
from typing import Any

from receiver.meditlink import recognise
from schemas.topics import INBOUND_RECEIVED, SCAN_NOTIFIED
from tests.events import collect, of_type, settle
from tests.meditlink.conftest import Stack


async def _post(http: Any, url: str, body: bytes, **headers: str) -> Any:
    return await http.post(url, content=body, headers={"content-type": "application/json", **headers})


async def test_the_simulators_callback_is_published_verbatim_with_its_ids(stack: Stack, http: Any) -> None:
    case = stack.sim.create_case()
    payload = {"uuid": "f-1", "caseUuid": case.uuid, "name": "mandible.obj.general.meditMesh",
               "status": "SUCCESS", "fileType": "ATTACHED_DATA"}
    raw = json.dumps(payload).encode()
    response = await _post(http, stack.hook, raw)
    assert response.status_code == 202 and response.json()["recognised"] == ["case_id", "file_id", "status"]
    events = await collect(stack.bus, [stack.topics.events, stack.topics.inbound], lambda ev: len(ev) >= 2)
    inbound, = of_type(events, INBOUND_RECEIVED)
    notified, = of_type(events, SCAN_NOTIFIED)
    assert inbound.data == raw
    data = notified.json_data()
    assert (data["file_id"], data["case_id"], data["status"]) == ("f-1", case.uuid, "SUCCESS")
    assert data["inbound_id"] == inbound.id and notified.subject == case.uuid


def test_names_are_matched_in_any_case_and_nested_objects_are_searched() -> None:
    body = {"RESULT": "done", "data": {"File": {"UUID": "f-9"}, "case": {"uuid": "c-9"}, "ORDER_NUMBER": 77}}
    assert recognise(body) == {"status": "done", "file_id": "f-9", "case_id": "c-9", "order_id": "77"}


async def test_an_unknown_shape_is_accepted_and_published_without_ids(stack: Stack, http: Any) -> None:
    raw = b'{"hello": ["world"], "n": 1}'
    response = await _post(http, stack.hook, raw)
    assert response.status_code == 202 and response.json()["recognised"] == []
    events = await collect(stack.bus, [stack.topics.events, stack.topics.inbound], lambda ev: len(ev) >= 2)
    data = of_type(events, SCAN_NOTIFIED)[0].json_data()
    assert not any(data[k] for k in ("file_id", "case_id", "order_id", "status", "rx_id"))
    assert of_type(events, INBOUND_RECEIVED)[0].data == raw


async def test_refusals_publish_nothing(stack: Stack, http: Any) -> None:
    wrong = f"{stack.receiver_url}/hooks/meditlink/{'x' * 43}"
    assert (await _post(http, wrong, b"{}")).status_code == 404
    assert (await _post(http, stack.hook, b"[1, 2]")).status_code == 422
    assert (await _post(http, stack.hook, b"{not json")).status_code == 400
    assert (await _post(http, stack.hook, b"{}", **{"content-type": "text/plain"})).status_code == 415
    big = json.dumps({"pad": "x" * (stack.settings.receiver.max_body_bytes + 1)}).encode()
    assert (await _post(http, stack.hook, big)).status_code == 413
    assert await settle(stack.bus, [stack.topics.events, stack.topics.inbound], quiet_s=1.0) == []
