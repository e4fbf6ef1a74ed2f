"""Hostile bodies at every webhook route get a 4xx JSON error, never a 5xx, and publish nothing
(issue 10 items 5 and 6; DESIGN.md §5.2, §5.6). The property-based sweep is test_receiver_fuzz.py."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.security.conftest import TOKEN, Receiver

JSON = {"content-type": "application/json"}
RX = str(uuid.uuid4())
ROUTES = [f"/hooks/itero/{TOKEN}", f"/hooks/align/{TOKEN}", f"/hooks/meditlink/{TOKEN}"]

HOSTILE_BODIES = {
    # nesting the JSON parser cannot follow within the body bound (RecursionError before)
    "deep_arrays": b'{"Id": "' + RX.encode() + b'", "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    "deep_objects": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    # integers past Python's 4,300-digit str↔int limit (ValueError outside JSONDecodeError before)
    "huge_integer": b'{"Id": "' + RX.encode() + b'", "CompanyId": ' + b"9" * 5_000 + b"}",
    "huge_integer_elsewhere": b'{"Id": "' + RX.encode() + b'", "n": [' + b"1" * 4_400 + b"]}",
    # lone surrogates: valid JSON escapes, but no UTF-8 consumer can carry them
    "surrogate_in_id": b'{"Id": "\\ud800", "fileUuid": "\\ud800", "orderNumber": "\\udfff"}',
    "surrogate_in_value": b'{"Id": "' + RX.encode() + b'", "note": "a\\udc00b"}',
    "surrogate_in_key": b'{"Id": "' + RX.encode() + b'", "\\ud83d": 1}',
    # not UTF-8 at all, and JSON's missing constants
    "latin1_bytes": b'{"Id": "' + RX.encode() + b'", "name": "M\xfcller"}',
    "utf16": json.dumps({"Id": RX}).encode("utf-16"),
    "nan": b'{"Id": "' + RX.encode() + b'", "CompanyId": NaN}',
    "infinity": b'{"Id": "' + RX.encode() + b'", "x": -Infinity}',
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
async def test_hostile_bodies_get_a_4xx_json_error_and_publish_nothing(
    receiver: Receiver, route: str, name: str
) -> None:
    before = await receiver.published()
    response = await receiver.http.post(route, content=HOSTILE_BODIES[name], headers=JSON)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]
    assert await receiver.published() == before


@pytest.mark.parametrize(("route", "body", "code"), [
    (f"/hooks/itero/{TOKEN}", {"Id": "../../x"}, "invalid_body"),
    (f"/hooks/itero/{TOKEN}", {"Id": "1?admin=true#"}, "invalid_body"),
    (f"/hooks/itero/{TOKEN}", {"Id": RX, "CompanyId": "4242/../1"}, "invalid_body"),
    (f"/hooks/itero/{TOKEN}", {"Id": RX, "CompanyId": "٤٢٤٢"}, "invalid_body"),  # digits, not ASCII
    (f"/hooks/align/{TOKEN}", {"Id": RX, "CompanyId": 1e300}, "invalid_body"),
    (f"/hooks/meditlink/{TOKEN}", {"orderNumber": "../../x"}, "invalid_id"),
    (f"/hooks/meditlink/{TOKEN}", {"orderNumber": "1?admin=true#"}, "invalid_id"),
    (f"/hooks/meditlink/{TOKEN}", {"orderNumber": 1e300}, "invalid_id"),
    (f"/hooks/meditlink/{TOKEN}", {"caseUuid": "../../x"}, "invalid_id"),
    (f"/hooks/meditlink/{TOKEN}", {"case": {"uuid": ".."}}, "invalid_id"),
    (f"/hooks/meditlink/{TOKEN}", {"uuid": "a b"}, "invalid_id"),
    (f"/hooks/meditlink/{TOKEN}", {"fileUuid": "x%2F..%2Fy"}, "invalid_id"),
])
async def test_ids_that_would_change_a_vendor_url_are_refused_with_422(
    receiver: Receiver, route: str, body: dict[str, object], code: str
) -> None:
    before = await receiver.published()
    response = await receiver.http.post(route, content=json.dumps(body).encode(), headers=JSON)
    assert response.status_code == 422 and response.json()["error"] == code
    assert await receiver.published() == before


@pytest.mark.parametrize("body", [
    {"Id": RX, "CompanyId": "4242"},
    {"Id": "{" + RX + "}", "CompanyId": 4242.0},
])
async def test_documented_ids_are_still_accepted(receiver: Receiver, body: dict[str, object]) -> None:
    before = await receiver.published()
    http = receiver.http
    response = await http.post(f"/hooks/itero/{TOKEN}", content=json.dumps(body).encode(), headers=JSON)
    medit = await http.post(f"/hooks/meditlink/{TOKEN}", headers=JSON, content=json.dumps(
        {"uuid": "930449b1-76b4-479e-b1a7-a57e65d9d172", "caseUuid": "72218637-46a3-4a9c-a675-399e668dd8ff",
         "order": {"orderNumber": 3706720}, "status": "SUCCESS"}).encode())
    assert response.status_code == 202 and medit.status_code == 202
    assert medit.json()["recognised"] == ["case_id", "file_id", "order_id", "status"]
    assert await receiver.published() == before + 4
