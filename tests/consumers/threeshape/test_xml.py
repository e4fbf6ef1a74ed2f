"""Parsing the doc's own example answers, and refusing hostile or wrong ones."""

from __future__ import annotations

import datetime as dt

import pytest

from consumers.threeshape.xml import (
    MalformedXml,
    RequestStatusError,
    ResponseTooLarge,
    UnexpectedXml,
    UnsafeXml,
    parse_cases,
    parse_client_list,
    parse_image_bytes,
    parse_request_status,
)
from simulators.threeshape import payloads

# "/GetAvailableClientList" › Output, verbatim.
CLIENTS = b"""<ArrayOfClientInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <ClientInfo>
    <OperatorId>
      c3015f21-29d2-4ba2-9901-009f9859528f_364b9e1d-ec02-4b74-ab4b-20a250855d82
    </OperatorId>
    <TimeStamp>2019-11-14T13:14:20.7395144+02:00</TimeStamp>
    <ClientId>5be65d15-31a2-442b-a93b-0bd65ec8abe9</ClientId>
    <Hostname>UA-DTC-VHR</Hostname>
    <IsBusy>true</IsBusy>
    <Modules>
      <ModuleInfo>
        <Id>ThreeShape.TRIOS</Id>
        <Title>TRIOS</Title>
      </ModuleInfo>
    </Modules>
    <OperatorName>Default operator</OperatorName>
  </ClientInfo>
</ArrayOfClientInfo>"""

# "/GetCasesForPatient" › Output, verbatim.
CASES = b"""<ArrayOfCaseInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <CaseInfo>
    <CaseId>7d728802-d04c-4d87-bf7d-dcd48b48fd93</CaseId>
    <PatientName>John Smith</PatientName>
    <PatientIntegrationId>123</PatientIntegrationId>
    <SentToLab>My CoDx</SentToLab>
    <CaseSentDate>2019-11-18T10:54:22+02:00</CaseSentDate>
    <DeliveryDate>2019-11-14T11:00:00Z</DeliveryDate>
    <Indications>
      <IndicationInfo>
        <From>3</From>
        <To>3</To>
        <IndicationName>Crown</IndicationName>
        <Shade>Wax A1</Shade>
      </IndicationInfo>
    </Indications>
    <AttachedImages>
      <AttachedImageInfo>
        <Name>74d3ac7f-603f-4c4f-9379-f322f0bcc0c0.jpeg</Name>
        <Id>8911a8ff-64c7-44cb-8ab1-45fdd9122397</Id>
        <TimeStamp>2019-11-14T11:18:12Z</TimeStamp>
      </AttachedImageInfo>
    </AttachedImages>
    <SurfaceScans>
      <SurfaceScanInfo>
        <Id>24748b06-963f-479e-92a4-d9e295680d88</Id>
        <From>17</From>
        <To>32</To>
        <ScanType>Jaw</ScanType>
        <Sectioned>false</Sectioned>
        <PhysicallyPrepared>false</PhysicallyPrepared>
        <TimeStamp>2019-11-13T09:39:15Z</TimeStamp>
      </SurfaceScanInfo>
      <SurfaceScanInfo>
        <Id>efd1f89d-0e42-47bb-a09a-eac8310e3564</Id>
        <From>1</From>
        <To>16</To>
        <ScanType>Jaw</ScanType>
        <Sectioned>false</Sectioned>
        <PhysicallyPrepared>true</PhysicallyPrepared>
        <TimeStamp>2019-11-13T09:39:15Z</TimeStamp>
      </SurfaceScanInfo>
    </SurfaceScans>
  </CaseInfo>
</ArrayOfCaseInfo>"""

# "/GetRequestStatusById" › Output, verbatim.
STATUS = b"""<RequestStatus xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
  <StatusCode>101</StatusCode>
  <StatusDescription>
    You should set at least integration ID for creating case request.
  </StatusDescription>
</RequestStatus>"""


def test_the_doc_client_list_parses() -> None:
    (client,) = parse_client_list(CLIENTS)
    assert client.client_id == "5be65d15-31a2-442b-a93b-0bd65ec8abe9"
    assert client.operator_id == "c3015f21-29d2-4ba2-9901-009f9859528f_364b9e1d-ec02-4b74-ab4b-20a250855d82"
    assert client.is_busy is True
    assert client.timestamp == dt.datetime(2019, 11, 14, 11, 14, 20, 739514, tzinfo=dt.UTC)
    assert [(m.id, m.title) for m in client.modules] == [("ThreeShape.TRIOS", "TRIOS")]


def test_the_doc_case_parses_with_dates_in_utc() -> None:
    (case,) = parse_cases(CASES)
    assert case.case_id == "7d728802-d04c-4d87-bf7d-dcd48b48fd93"
    assert case.case_sent_date == dt.datetime(2019, 11, 18, 8, 54, 22, tzinfo=dt.UTC)
    assert case.creation_date is None and case.is_modelled is None  # absent from the example
    assert [(i.first, i.last, i.name, i.shade) for i in case.indications] == [(3, 3, "Crown", "Wax A1")]
    assert case.attached_images[0].timestamp == dt.datetime(2019, 11, 14, 11, 18, 12, tzinfo=dt.UTC)
    assert [s.physically_prepared for s in case.surface_scans] == [False, True]
    assert case.record["Indications"] == [
        {"From": "3", "To": "3", "IndicationName": "Crown", "Shade": "Wax A1"}
    ]
    assert case.record["SentToLab"] == "My CoDx"


def test_the_doc_request_status_parses() -> None:
    status = parse_request_status(STATUS)
    assert (status.code, status.description) == (
        101, "You should set at least integration ID for creating case request."
    )


def test_a_request_status_where_data_was_expected_is_an_error() -> None:
    with pytest.raises(RequestStatusError, match="request status 101") as info:
        parse_cases(STATUS)
    assert info.value.status.code == 101


def test_the_size_is_bounded_before_parsing() -> None:
    with pytest.raises(ResponseTooLarge):
        parse_cases(CASES, max_bytes=100)


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(UnsafeXml):
        parse_cases(payloads.billion_laughs().encode())


def test_external_entities_are_refused() -> None:
    with pytest.raises(UnsafeXml):
        parse_cases(payloads.external_entity().encode())


def test_a_dtd_inside_a_wcf_string_is_refused_too() -> None:
    with pytest.raises(UnsafeXml):
        parse_cases(payloads.wcf_string(payloads.billion_laughs()).encode())


def test_malformed_xml_is_refused() -> None:
    with pytest.raises(MalformedXml):
        parse_cases(CASES[:200])


@pytest.mark.parametrize("encoding", ["UTF-7", "garbage", "utf-16", "x\u00ff"])
def test_a_declaration_naming_an_unusable_encoding_is_malformed_xml(encoding: str) -> None:
    """Before: UTF-7 escaped as a bare ValueError and "garbage" as a LookupError, past every handler
    of InvalidResponse (issue 10 item 13)."""
    with pytest.raises(MalformedXml):
        parse_cases(payloads.declared_encoding(payloads.case_list([]), encoding).encode("latin-1"))


def test_the_wrong_document_is_refused() -> None:
    with pytest.raises(UnexpectedXml, match="expected <ArrayOfCaseInfo>, got <ArrayOfClientInfo>"):
        parse_cases(CLIENTS)


def test_a_case_id_that_is_not_a_guid_is_refused() -> None:
    with pytest.raises(UnexpectedXml, match="CaseId"):
        parse_cases(CASES.replace(b"7d728802-d04c-4d87-bf7d-dcd48b48fd93", b"../../etc"))


def test_image_bytes_decode_from_base64binary() -> None:
    assert parse_image_bytes(payloads.image_bytes(b"\xff\xd8\xff\xe0").encode(), max_bytes=1000) == (
        b"\xff\xd8\xff\xe0"
    )
    with pytest.raises(UnexpectedXml, match="base64"):
        parse_image_bytes(b"<base64Binary>not*base64</base64Binary>", max_bytes=1000)
