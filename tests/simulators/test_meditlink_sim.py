"""The Medit Link simulator behaves as meditlink-openapi.txt says, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import py7zr
import pytest
from py7zr.io import BytesIOFactory
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.meditlink import (
    CLIENT_ID,
    CLIENT_SECRET,
    CLINIC_EMAIL,
    LAB_EMAIL,
    LAB_UUID,
    PASSWORD,
    MeditSimState,
    create_app,
)
from tests.servers import serve

BASIC = (CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def state() -> MeditSimState:
    return MeditSimState()


@pytest.fixture
async def http(state: MeditSimState) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(state)) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


async def login(http: httpx.AsyncClient, email: str = LAB_EMAIL) -> dict[str, Any]:
    form = {"grant_type": "password", "username": email, "password": PASSWORD}
    response = await http.post("/oauth/token", data=form, auth=BASIC)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def api_headers(http: httpx.AsyncClient, email: str = LAB_EMAIL) -> dict[str, str]:
    token = await login(http, email)
    headers = {"Authorization": f"Bearer {token['access_token']}", "x-meditlink-client-id": CLIENT_ID}
    me = await http.get("/v1/me", headers=headers)
    return {**headers, "x-meditlink-group-uuid": me.json()["group"]["uuid"]}


WINDOW = {"start": 0, "end": 253402300799000}


# -- authorization server (§1.2–1.4, FAQ) ------------------------------------------------------


async def test_password_grant_returns_the_documented_token_shape(http: httpx.AsyncClient) -> None:
    token = await login(http)
    assert set(token) == {
        "access_token",
        "token_type",
        "refresh_token",
        "expires_in",
        "scope",
        "refresh_token_exp",
    }
    assert token["token_type"] == "bearer" and token["expires_in"] == 24 * 3600
    assert abs(int(str(token["refresh_token_exp"])) - (time.time() + 7 * 86400)) < 5  # epoch seconds


async def test_authorization_code_flow_redirects_with_code_and_state_and_code_works_once(
    http: httpx.AsyncClient,
) -> None:
    redirect = "http://127.0.0.1:9/callback?type=medit"
    query = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect, "scope": "USER ORDER"}
    answer = await http.get("/oauth/authorize", params={**query, "state": "xyz"})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    params = parse_qs(location.query)
    assert location.path == "/callback" and params["type"] == ["medit"] and params["state"] == ["xyz"]
    code = params["code"][0]
    assert len(code) == 32
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    first = await http.post("/oauth/token", data=form, auth=BASIC)
    assert first.status_code == 200 and first.json()["scope"] == "USER ORDER"
    again = await http.post("/oauth/token", data=form, auth=BASIC)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_refresh_rotates_the_refresh_token_and_a_second_use_is_invalid_grant_and_counted(
    http: httpx.AsyncClient, state: MeditSimState,
) -> None:
    token = await login(http)
    params = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    refreshed = (await http.post("/oauth/token", params=params, auth=BASIC)).json()
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    again = await http.post("/oauth/token", params=params, auth=BASIC)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert state.refresh_reuse == 1
    fresh = {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]}
    assert (await http.post("/oauth/token", params=fresh, auth=BASIC)).status_code == 200


async def test_without_rotation_a_refresh_keeps_the_refresh_token(
    http: httpx.AsyncClient, state: MeditSimState,
) -> None:
    state.rotate_refresh_tokens = False
    token = await login(http)
    params = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    refreshed = (await http.post("/oauth/token", params=params, auth=BASIC)).json()
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] == token["refresh_token"]
    assert refreshed["refresh_token_exp"] == token["refresh_token_exp"]
    assert (await http.post("/oauth/token", params=params, auth=BASIC)).status_code == 200
    assert state.refresh_reuse == 0


@pytest.mark.parametrize("auth", [None, (CLIENT_ID, "wrong-secret"), ("someone-else", CLIENT_SECRET)])
async def test_token_endpoint_answers_401_to_a_bad_client(
    http: httpx.AsyncClient, auth: tuple[str, str] | None
) -> None:
    form = {"grant_type": "password", "username": LAB_EMAIL, "password": PASSWORD}
    response = await http.post("/oauth/token", data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("how", ["unknown", "expired", "revoked"])
async def test_a_bad_refresh_token_is_400_invalid_grant(
    http: httpx.AsyncClient, state: MeditSimState, how: str
) -> None:
    token = await login(http)
    value = "96a9e748-8cad-4a29-b371-0a7d252f38fb" if how == "unknown" else token["refresh_token"]
    if how == "expired":
        state.advance(7 * 86400 + 1)
    if how == "revoked":
        state.revoke_refresh_tokens()
    response = await http.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": value}, auth=BASIC
    )
    body = response.json()
    assert response.status_code == 400 and body["error"] == "invalid_grant" and body["status"] == 400
    assert body["message"].startswith("Invalid refresh token") and body["path"] == "/oauth/token"


async def test_client_credentials_grant_is_unsupported(http: httpx.AsyncClient) -> None:
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=BASIC)
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


# -- resource checks (§3 request headers) ------------------------------------------------------


async def test_api_calls_without_a_bearer_token_get_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/me", headers={"x-meditlink-client-id": CLIENT_ID})
    assert response.status_code == 401


async def test_an_expired_access_token_gets_401_and_a_refreshed_one_works(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    headers = await api_headers(http)
    state.advance(24 * 3600 + 1)
    expired = await http.get("/v1/me", headers=headers)
    assert expired.status_code == 401 and expired.json()["error"] == "invalid_token"
    assert (await login(http))["access_token"]  # password grant still works after the clock moved


async def test_access_token_expires_in_real_time_when_configured_short(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    state.access_ttl_s = 0.3
    headers = await api_headers(http)
    assert (await http.get("/v1/me", headers=headers)).status_code == 200
    await asyncio.sleep(0.4)
    assert (await http.get("/v1/me", headers=headers)).status_code == 401


async def test_case_search_without_group_uuid_header_is_400(http: httpx.AsyncClient) -> None:
    headers = await api_headers(http)
    del headers["x-meditlink-group-uuid"]
    assert (await http.get("/v1/cases/search", headers=headers)).status_code == 400


async def test_me_returns_the_group_uuid_of_the_user(http: httpx.AsyncClient) -> None:
    headers = await api_headers(http)
    assert headers["x-meditlink-group-uuid"] == LAB_UUID


# -- search and paging (§3.3.1, §3.5.1) ----------------------------------------------------------


async def test_order_search_pages_as_documented_and_past_the_end_is_204(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    numbers = [state.create_order(state.create_case(f"case {i}").uuid).number for i in range(5)]
    headers = await api_headers(http)
    pages = []
    for page in range(3):
        response = await http.get(
            "/v1/orders/search", params={**WINDOW, "size": 2, "page": page}, headers=headers
        )
        pages.append(response.json())
    assert [p["numberOfElements"] for p in pages] == [2, 2, 1]
    assert [(p["first"], p["last"]) for p in pages] == [(True, False), (False, False), (False, True)]
    assert all(p["totalElements"] == 5 and p["totalPage"] == 3 and p["size"] == 2 for p in pages)
    seen = [o["orderNumber"] for p in pages for o in p["content"]]
    assert seen == sorted(numbers, reverse=True)  # newest dateUpdated first
    beyond = await http.get("/v1/orders/search", params={**WINDOW, "size": 2, "page": 3}, headers=headers)
    assert beyond.status_code == 204


@pytest.mark.parametrize("params", [{"size": 41, **WINDOW}, {"page": 1001, **WINDOW}, {"start": 0}])
async def test_order_search_rejects_out_of_range_or_missing_parameters(
    http: httpx.AsyncClient, params: dict[str, int]
) -> None:
    response = await http.get("/v1/orders/search", params=params, headers=await api_headers(http))
    assert response.status_code == 400 and response.json()["status"] == 400


async def test_order_search_window_follows_date_updated(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    order = state.create_order(state.create_case().uuid)
    state.advance(3600)
    since = state.now_ms()
    headers = await api_headers(http)
    window = {"start": since, "end": since + 10_000_000}
    assert (await http.get("/v1/orders/search", params=window, headers=headers)).status_code == 204
    state.add_file(order.case_uuid, "crown.meditMesh")  # a new file bumps case and order
    found = (await http.get("/v1/orders/search", params=window, headers=headers)).json()
    assert [o["orderNumber"] for o in found["content"]] == [order.number]


async def test_case_search_window_follows_date_created(http: httpx.AsyncClient, state: MeditSimState) -> None:
    old = state.create_case("old")
    state.advance(3600)
    since = state.now_ms()
    new = state.create_case("new")
    headers = await api_headers(http, CLINIC_EMAIL)
    state.touch_case(old.uuid)
    found = (await http.get("/v1/cases/search", params={"start": since}, headers=headers)).json()
    assert [c["uuid"] for c in found["content"]] == [new.uuid]


async def test_a_lab_sees_no_patient_code_and_the_name_only_if_shared(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    shared = state.create_order(state.create_case(patient_name="A. Patient").uuid)
    hidden = state.create_order(state.create_case(patient_name="B. Patient").uuid, share_patient_name=False)
    headers = await api_headers(http)
    a = (await http.get(f"/v1/orders/{shared.number}", headers=headers)).json()["case"]["patient"]
    b = (await http.get(f"/v1/orders/{hidden.number}", headers=headers)).json()["case"]["patient"]
    assert a == {"name": "A. Patient", "code": ""} and b == {"name": "", "code": ""}


# -- failure modes -------------------------------------------------------------------------------


async def test_fail_next_answers_429_with_retry_after_then_recovers(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    headers = await api_headers(http)
    state.fail_next("/v1/orders/search", 429, count=2, retry_after=3)
    statuses = []
    for _ in range(3):
        response = await http.get("/v1/orders/search", params=WINDOW, headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "3" and response.json()["status"] == 429
    assert statuses == [429, 429, 204]


async def test_fail_next_answers_500_once(http: httpx.AsyncClient, state: MeditSimState) -> None:
    headers = await api_headers(http)
    state.fail_next("/v1/me", 500)
    assert [(await http.get("/v1/me", headers=headers)).status_code for _ in range(2)] == [500, 200]


async def test_slow_next_delays_the_answer(http: httpx.AsyncClient, state: MeditSimState) -> None:
    headers = await api_headers(http)
    state.slow_next("/v1/me", 0.3)
    started = time.monotonic()
    assert (await http.get("/v1/me", headers=headers)).status_code == 200
    assert time.monotonic() - started >= 0.3


# -- files and archives (§3.4.1) -----------------------------------------------------------------


def unpack(data: bytes) -> dict[str, bytes]:
    factory = BytesIOFactory(limit=10_000_000)
    with py7zr.SevenZipFile(io.BytesIO(data)) as archive:
        names = archive.getnames()
        archive.extractall(factory=factory)
    return {name: factory.get(name).read() for name in names}


async def test_archive_item_list_matches_the_archive_content(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    case = state.create_case(files=[("maxillary.meditMesh", 200_000)])
    state.create_order(case.uuid)
    headers = await api_headers(http)
    meta = (await http.get(f"/v1/files/{case.files[0].uuid}", params={"type": "stl"}, headers=headers)).json()
    assert meta["downloadFileName"] == f"{case.files[0].uuid}.stl.7z"
    download = await http.get(meta["url"])
    assert download.status_code == 200
    members = unpack(download.content)
    listed = {i["name"]: (i["size"], i["hashValue"], i["hashAlgorithm"]) for i in meta["items"]}
    real = {n: (len(d), hashlib.md5(d, usedforsecurity=False).hexdigest(), "MD5") for n, d in members.items()}
    assert listed == real and list(real) == ["maxillary.stl"]
    assert 84 + 50 * int.from_bytes(members["maxillary.stl"][80:84], "little") == len(
        members["maxillary.stl"]
    )


async def test_presigned_url_expires_with_403_like_s3(http: httpx.AsyncClient, state: MeditSimState) -> None:
    case = state.create_case()
    headers = await api_headers(http, CLINIC_EMAIL)
    meta = (await http.get(f"/v1/files/{case.files[0].uuid}", headers=headers)).json()
    state.advance(5 * 60 + 1)
    expired = await http.get(meta["url"])
    assert expired.status_code == 403 and b"<Code>AccessDenied</Code>" in expired.content


async def test_presigned_url_expires_in_real_time_when_configured_short(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    state.url_ttl_s = 0.3
    case = state.create_case()
    meta = (
        await http.get(f"/v1/files/{case.files[0].uuid}", headers=await api_headers(http, CLINIC_EMAIL))
    ).json()
    assert (await http.get(meta["url"])).status_code == 200
    await asyncio.sleep(0.4)
    assert (await http.get(meta["url"])).status_code == 403


async def test_download_honours_a_byte_range(http: httpx.AsyncClient, state: MeditSimState) -> None:
    case = state.create_case()
    meta = (
        await http.get(f"/v1/files/{case.files[0].uuid}", headers=await api_headers(http, CLINIC_EMAIL))
    ).json()
    whole = (await http.get(meta["url"])).content
    part = await http.get(meta["url"], headers={"Range": "bytes=10-"})
    assert part.status_code == 206 and part.content == whole[10:]


async def test_hostile_archive_carries_traversal_and_absolute_members(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    state.hostile_archive = True
    case = state.create_case()
    meta = (
        await http.get(f"/v1/files/{case.files[0].uuid}", headers=await api_headers(http, CLINIC_EMAIL))
    ).json()
    with py7zr.SevenZipFile(io.BytesIO((await http.get(meta["url"])).content)) as archive:
        names = archive.getnames()
    assert "../evil.txt" in names and any(n.startswith("/") for n in names)
    assert {i["name"] for i in meta["items"]} == set(names)


async def test_an_unknown_convert_type_is_400(http: httpx.AsyncClient, state: MeditSimState) -> None:
    case = state.create_case()
    headers = await api_headers(http, CLINIC_EMAIL)
    response = await http.get(f"/v1/files/{case.files[0].uuid}", params={"type": "fbx"}, headers=headers)
    assert response.status_code == 400


# -- upload and callback (§3.4.2–3.4.3, Appendix B) ------------------------------------------------


async def test_upload_then_finish_processing_posts_the_callback(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    received: list[dict[str, object]] = []

    async def callback(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    case = state.create_case()
    data = b"solid mandible\nendsolid mandible\n"
    md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    headers = await api_headers(http, CLINIC_EMAIL)
    async with serve(Starlette(routes=[Route("/hook", callback, methods=["POST"])])) as hook:
        body = {"caseUuid": case.uuid, "name": "mandible.stl", "size": len(data), "hashValue": md5}
        registered = (
            await http.post("/v1/files", json={**body, "callbackUrl": f"{hook}/hook"}, headers=headers)
        ).json()
        assert registered["item"]["hashValue"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        bad = await http.put(
            registered["uploadUrl"], content=data, headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}
        )
        assert bad.status_code == 400
        assert (
            await http.put(registered["uploadUrl"], content=data, headers={"Content-MD5": md5})
        ).status_code == 200
        record = await state.finish_processing(registered["uuid"])
    assert record.status_code == 204 and received == [record.payload]
    assert received[0]["uuid"] == registered["uuid"] and received[0]["status"] == "SUCCESS"
    detail = (await http.get(f"/v1/cases/{case.uuid}", headers=headers)).json()
    assert {"uuid": registered["uuid"], "name": "mandible.stl.general.meditMesh"}.items() <= detail["files"][
        -1
    ].items()


# -- admin API (/_sim) -------------------------------------------------------------------------------


async def test_admin_api_creates_an_ordered_case_and_injects_a_fault(http: httpx.AsyncClient) -> None:
    created = await http.post("/_sim/cases", json={"name": "demo", "files": [{"name": "upper.meditMesh"}]})
    assert created.status_code == 201
    number = created.json()["orderNumber"]
    await http.post("/_sim/faults", json={"path": f"/v1/orders/{number}", "status": 429, "retryAfter": 2})
    headers = await api_headers(http)
    throttled = await http.get(f"/v1/orders/{number}", headers=headers)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    order = (await http.get(f"/v1/orders/{number}", headers=headers)).json()
    assert order["case"]["name"] == "demo" and order["status"] == "PENDING"
    await http.post(f"/_sim/orders/{number}/status", json={"status": "ACCEPTED"})
    assert (await http.get(f"/v1/orders/{number}", headers=headers)).json()["status"] == "ACCEPTED"


async def test_auto_processed_upload_posts_the_callback_without_a_helper_call(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def callback(request: Request) -> Response:
        arrived.put_nowait(await request.json())
        return Response(status_code=200)

    state.auto_process_uploads = True
    case = state.create_case()
    data = b"attached"
    md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    headers = await api_headers(http, CLINIC_EMAIL)
    async with serve(Starlette(routes=[Route("/hook", callback, methods=["POST"])])) as hook:
        body = {
            "caseUuid": case.uuid,
            "name": "note.png",
            "size": 8,
            "hashValue": md5,
            "callbackUrl": f"{hook}/hook",
        }
        registered = (await http.post("/v1/files", json=body, headers=headers)).json()
        await http.put(registered["uploadUrl"], content=data, headers={"Content-MD5": md5})
        payload = await asyncio.wait_for(arrived.get(), 5)
    assert payload["name"] == "note.png" and payload["uuid"] == registered["uuid"]


# -- what the vendor sees of our polling (issue 12 item 6) -----------------------------------------


async def test_overlapping_and_too_frequent_polls_of_one_group_are_counted(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    state.polls.min_interval_s = 60.0
    state.list_delay_s = 0.2
    headers = await api_headers(http)
    first_pages = [http.get("/v1/orders/search", params={**WINDOW, "page": 0}, headers=headers)
                   for _ in range(2)]
    await asyncio.gather(*first_pages, http.get("/v1/cases/search", params=WINDOW, headers=headers))
    seen = state.polls.summary()[LAB_UUID]
    assert seen["polls"] == 2  # only page 0 of orders/search starts a poll
    assert seen["concurrent"] == 2  # the second search and the case search came while one was in flight
    assert seen["too_frequent"] == 1


async def test_polls_of_one_group_spaced_by_the_interval_are_not_counted_as_too_frequent(
    http: httpx.AsyncClient, state: MeditSimState
) -> None:
    state.polls.min_interval_s = 60.0
    headers = await api_headers(http)
    for _ in range(2):
        assert (await http.get("/v1/orders/search", params=WINDOW, headers=headers)).status_code in (200, 204)
        state.advance(61)
    assert state.polls.summary()[LAB_UUID] == {"polls": 2, "concurrent": 0, "too_frequent": 0,
                                               "shortest_gap_s": pytest.approx(61, abs=0.5)}
