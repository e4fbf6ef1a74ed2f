"""The Dental Desktop client against the simulator over HTTPS loopback (doc "Integration API reference")."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from consumers.errors import BadRequest, NotFound, ServerError, Unauthorized
from consumers.threeshape.client import DentalDesktopClient, NotAnImage, build_http_client, sniff_image
from consumers.threeshape.tls import pinned_transport
from consumers.threeshape.xml import MalformedXml, ResponseTooLarge, UnsafeXml
from simulators.threeshape import DentalDesktopState, Faults, TlsFiles
from simulators.threeshape.images import jpeg, png


async def test_wrong_password_is_a_clear_unauthorized_error(
    server_url: str, tls_files: TlsFiles, state: DentalDesktopState
) -> None:
    transport = await pinned_transport(server_url, tls_files.ca_thumbprint)
    async with build_http_client(server_url, transport, "Sam", "wrong") as http:
        with pytest.raises(Unauthorized, match="refused the Basic credentials"):
            await DentalDesktopClient(http).get_available_clients()
    assert [(r.had_credentials, r.authorized) for r in state.requests] == [(True, False)]


async def test_cases_come_back_typed(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    case = state.create_case("123", "John Smith")
    state.scan(case.case_id)
    state.create_case("456", "Someone Else")
    (found,) = await client.get_cases_for_patient("123")
    assert found.case_id == case.case_id
    assert found.patient_name == "John Smith"
    assert [(s.first, s.last, s.scan_type) for s in found.surface_scans] == [(1, 16, "Jaw"), (17, 32, "Jaw")]
    assert found.case_sent_date is None  # DateTime.MinValue: never sent
    assert found.is_modelled is False


async def test_integration_id_values_are_case_sensitive(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    state.create_case("Abc")
    assert await client.get_cases_for_patient("abc") == []


async def test_statuses_are_learned_with_one_filtered_query_each(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    created = state.create_case()
    scanned = state.scan(state.create_case().case_id)
    modelled = state.model(state.scan(state.create_case().case_id).case_id)
    cases = await client.get_cases_with_status("123")
    assert {c.case_id: c.status for c in cases} == {
        created.case_id: "Created", scanned.case_id: "Scanned", modelled.case_id: "Modelled",
    }
    assert sorted(r.query.split("&", 1)[1] for r in state.requests) == [
        "IsCreated=False&IsScanned=False&IsModelled=True",
        "IsCreated=False&IsScanned=True&IsModelled=False",
        "IsCreated=True&IsScanned=False&IsModelled=False",
    ]


async def test_creation_date_window_filters(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    old = state.create_case(creation_date=dt.datetime(2018, 5, 1, tzinfo=dt.UTC))
    state.create_case(creation_date=dt.datetime(2020, 5, 1, tzinfo=dt.UTC))
    found = await client.get_cases_for_patient(
        "123", created_from=dt.date(2018, 4, 30), created_to=dt.date(2019, 2, 1)
    )
    assert [c.case_id for c in found] == [old.case_id]


async def test_an_inverted_date_window_is_refused_before_sending(client: DentalDesktopClient) -> None:
    with pytest.raises(ValueError, match="later than"):
        await client.get_cases_for_patient(
            "123", created_from=dt.date(2020, 1, 2), created_to=dt.date(2020, 1, 1)
        )


async def test_attached_jpeg_and_png_are_decoded(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    case = state.create_case()
    photo = state.attach_image(case.case_id, jpeg(200))
    shot = state.attach_image(case.case_id, png(seed=5))
    got = await client.get_attached_image(case.case_id, photo.id)
    assert (got.data, got.media_type) == (jpeg(200), "image/jpeg")
    got = await client.get_attached_image(case.case_id, shot.id)
    assert (got.data, got.media_type) == (png(seed=5), "image/png")


async def test_bytes_that_are_not_an_image_are_rejected(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    case = state.create_case()
    bogus = state.attach_image(case.case_id, b"MZ\x90\x00 not a picture", name="x.jpeg")
    with pytest.raises(NotAnImage, match="not a known image format"):
        await client.get_attached_image(case.case_id, bogus.id)


async def test_unknown_case_is_not_found_with_its_request_status(client: DentalDesktopClient) -> None:
    with pytest.raises(NotFound, match="request status 104: No cases found"):
        await client.get_attached_image(
            "7d728802-d04c-4d87-bf7d-dcd48b48fd93", "8911a8ff-64c7-44cb-8ab1-45fdd9122397"
        )


async def test_malformed_xml_is_rejected(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    state.create_case()
    state.faults = Faults(malformed_xml=True)
    with pytest.raises(MalformedXml, match="not well-formed"):
        await client.get_cases_for_patient("123")


async def test_entity_expansion_payload_is_rejected(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    state.faults = Faults(entity_expansion=True)
    with pytest.raises(UnsafeXml, match="DTDForbidden"):
        await client.get_cases_for_patient("123")


async def test_external_entity_payload_is_rejected(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    state.faults = Faults(external_entity=True, wrap_in_string=True)
    with pytest.raises(UnsafeXml):
        await client.get_cases_for_patient("123")


async def test_xml_wrapped_in_a_wcf_string_is_unwrapped(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    case = state.create_case()
    state.faults = Faults(wrap_in_string=True)
    (found,) = await client.get_cases_for_patient("123")
    assert found.case_id == case.case_id


async def test_an_answer_over_the_size_bound_is_refused(
    server_url: str, tls_files: TlsFiles, state: DentalDesktopState
) -> None:
    state.faults = Faults(oversize_bytes=20_000)
    transport = await pinned_transport(server_url, tls_files.ca_thumbprint)
    async with build_http_client(server_url, transport, "Sam", "qwerty123") as http:
        with pytest.raises(ResponseTooLarge):
            await DentalDesktopClient(http, max_xml_bytes=10_000).get_available_clients()


async def test_server_errors_are_retryable(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    state.faults = Faults(fail_next=[503])
    with pytest.raises(ServerError, match="503"):
        await client.get_available_clients()
    assert len(await client.get_available_clients()) == 1


async def test_a_slow_server_times_out_as_retryable(
    server_url: str, tls_files: TlsFiles, state: DentalDesktopState
) -> None:
    state.faults = Faults(delay_s=0.5, methods=frozenset({"getavailableclientlist"}))
    transport = await pinned_transport(server_url, tls_files.ca_thumbprint)
    timeout = httpx.Timeout(5.0, read=0.1)
    async with build_http_client(server_url, transport, "Sam", "qwerty123", timeout=timeout) as http:
        with pytest.raises(ServerError, match="timeout"):
            await DentalDesktopClient(http).get_available_clients()


async def test_missing_integration_id_is_refused(client: DentalDesktopClient) -> None:
    with pytest.raises(ValueError, match="mandatory"):
        await client.get_cases_for_patient("")


async def test_server_side_bad_request_is_permanent(client: DentalDesktopClient) -> None:
    with pytest.raises(BadRequest, match="request status 103"):
        await client.get_attached_image("", "8911a8ff-64c7-44cb-8ab1-45fdd9122397")


def test_sniffing_knows_jpeg_and_png_only_by_their_magic() -> None:
    assert sniff_image(jpeg()) == "image/jpeg"
    assert sniff_image(png()) == "image/png"
    assert sniff_image(b"<html>") is None
