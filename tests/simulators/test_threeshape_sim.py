"""The Dental Desktop simulator behaves as the doc says ("Webservice (REST) integration")."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from simulators.threeshape import DentalDesktopState, create_app, write_tls_files
from tests.servers import serve

BASE = "/DentalDesktop/WebService/"


@pytest.fixture
def state() -> DentalDesktopState:
    return DentalDesktopState()


@pytest.fixture
async def http(state: DentalDesktopState, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    files = write_tls_files(tmp_path)
    trust = ssl.create_default_context(cadata=files.ca_pem.decode())
    tls = {"ssl_certfile": str(files.certfile), "ssl_keyfile": str(files.keyfile)}
    async with serve(create_app(state), **tls) as url, httpx.AsyncClient(
        base_url=url + BASE, verify=trust, auth=("Sam", "qwerty123"), timeout=5.0
    ) as client:
        yield client


async def test_the_doc_basic_example_authorizes(http: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Basic U2FtOnF3ZXJ0eTEyMw=="}  # "Security" › Authorization header
    response = await http.get("GetAvailableClientList", headers=headers, auth=None)
    assert response.status_code == 200
    assert response.text.count("<ClientInfo>") == 1


async def test_no_credentials_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get("GetAvailableClientList", auth=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_parameter_names_are_not_case_sensitive(
    http: httpx.AsyncClient, state: DentalDesktopState
) -> None:
    state.create_case("123")
    response = await http.get("GetCasesForPatient?integrationID=123")
    assert response.text.count("<CaseInfo>") == 1


async def test_status_filters_follow_the_remarks(http: httpx.AsyncClient, state: DentalDesktopState) -> None:
    state.create_case()
    state.scan(state.create_case().case_id)
    state.model(state.scan(state.create_case().case_id).case_id)
    response = await http.get("GetCasesForPatient?IntegrationId=123&IsCreated=True&IsModelled=True")
    assert response.text.count("<CaseInfo>") == 2
    assert response.text.count("<IsModelled>true</IsModelled>") == 1
    response = await http.get("GetCasesForPatient?IntegrationId=123")
    assert response.text.count("<CaseInfo>") == 3


async def test_an_inconsistent_date_range_is_bad_request(http: httpx.AsyncClient) -> None:
    query = "IntegrationId=123&CreationDateFrom=2019-02-01&CreationDateTo=2018-04-30"
    response = await http.get(f"GetCasesForPatient?{query}")
    assert response.status_code == 400


async def test_images_come_as_base64binary(http: httpx.AsyncClient, state: DentalDesktopState) -> None:
    case = state.create_case()
    image = state.attach_image(case.case_id)
    response = await http.get(f"GetAttachedImage?CaseId={case.case_id}&AttachedImageID={image.id}")
    assert response.text.split(">", 1)[1].lstrip().startswith("<base64Binary ")
    assert "/9j/" in response.text  # base64 of a JPEG's FF D8 FF
