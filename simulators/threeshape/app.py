"""The Dental Desktop server REST API as a Starlette app: `create_app(state)`.

3shape-dental-desktop-pms-integration.txt, "Webservice (REST) integration": methods under
`/DentalDesktop/WebService/<method>`, parameter names not case sensitive (values are), "Security"
(Basic authorization, 401 otherwise), "/GetAvailableClientList", "/GetCasesForPatient" (status and
date filters, BadRequest for inconsistent ranges) and "/GetAttachedImage"; the write methods, request
statuses and RemoveRequestById in requests.py. Serve it over HTTPS with the files of
`certs.write_tls_files`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hmac
import uuid
from collections.abc import Callable
from functools import partial

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.threeshape import payloads
from simulators.threeshape.requests import EMPTY_GUID
from simulators.threeshape.state import Case, CaseStatus, DentalDesktopState, SeenRequest

_XML = "application/xml; charset=utf-8"
WRITE_METHODS = ("createpatient", "updatepatient", "selectpatient", "createcase", "selectcase")
_STATUS_PARAMS: dict[str, CaseStatus] = {
    "iscreated": "Created", "isscanned": "Scanned", "ismodelled": "Modelled",
}


class _Invalid(Exception):
    """A parameter the server cannot use: answered with 400 BadRequest."""


def _credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _authorized(state: DentalDesktopState, creds: tuple[str, str] | None) -> bool:
    if creds is None:
        return False
    expected = state.users.get(creds[0])
    return expected is not None and hmac.compare_digest(expected.encode(), creds[1].encode())


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _date_param(params: dict[str, str], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return _as_utc(dt.datetime.fromisoformat(raw))  # invariant format: 2018-04-30[T10:00:00]
    except ValueError:
        raise _Invalid(f"{name}: not a date") from None


def _bool_param(params: dict[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise _Invalid(f"{name}: not a boolean")
    return raw.lower() == "true"


def _guid_param(params: dict[str, str], name: str) -> str | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _Invalid(f"{name}: not a GUID") from None


def _in_range(value: dt.datetime, low: dt.datetime | None, high: dt.datetime | None) -> bool:
    value = _as_utc(value)
    return (low is None or value >= low) and (high is None or value <= high)


def _cases_for_patient(state: DentalDesktopState, params: dict[str, str]) -> Response:
    integration_id = params.get("integrationid")
    if not integration_id:
        return Response(payloads.request_status(101), 400, media_type=_XML)
    windows = {}
    for field in ("creationdate", "deliverydate"):
        low, high = _date_param(params, f"{field}from"), _date_param(params, f"{field}to")
        if low is not None and high is not None and low > high:
            raise _Invalid(f"{field}: From is later than To")
        windows[field] = (low, high)
    wanted = {status for name, status in _STATUS_PARAMS.items() if _bool_param(params, name)}
    found: list[Case] = [
        case
        for case in state.cases.values()
        if case.integration_id == integration_id
        and (not wanted or case.status in wanted)
        and _in_range(case.creation_date, *windows["creationdate"])
        and _in_range(case.delivery_date, *windows["deliverydate"])
    ]
    return Response(payloads.case_list(found), media_type=_XML)


def _attached_image(state: DentalDesktopState, params: dict[str, str]) -> Response:
    case_id = _guid_param(params, "caseid")
    image_id = _guid_param(params, "attachedimageid")
    if case_id is None:
        return Response(payloads.request_status(103), 400, media_type=_XML)
    case = state.cases.get(case_id)
    if case is None:
        return Response(payloads.request_status(104), 404, media_type=_XML)
    for image in case.attached_images:
        if image.id == image_id:
            return Response(payloads.image_bytes(image.data), media_type=_XML)
    return Response(status_code=404)


def _write(state: DentalDesktopState, method: str, params: dict[str, str]) -> Response:
    """A write method (requests.py): 200 with no output, or 400 with the request status it failed with."""
    if method == "selectcase":
        _guid_param(params, "caseid")
    _guid_param(params, "clientid")
    _guid_param(params, "requestid")
    code = state.pool.call(method, params)
    if code >= 100:
        return Response(payloads.request_status(code, params.get("requestid") or EMPTY_GUID), 400,
                        media_type=_XML)
    return Response(status_code=200)


def _request_status(state: DentalDesktopState, params: dict[str, str]) -> Response:
    request_id = _guid_param(params, "id") or EMPTY_GUID
    return Response(payloads.request_status(state.pool.status(request_id), request_id), media_type=_XML)


def _remove_request(state: DentalDesktopState, params: dict[str, str]) -> Response:
    request_id = _guid_param(params, "id") or EMPTY_GUID
    return Response(payloads.boolean(state.pool.remove(request_id)), media_type=_XML)


def _with_faults(state: DentalDesktopState, method: str, response: Response) -> Response:
    faults = state.faults
    if response.status_code != 200 or not faults.applies_to(method):
        return response
    body = bytes(response.body).decode()
    if faults.entity_expansion:
        body = payloads.billion_laughs()
    elif faults.external_entity:
        body = payloads.external_entity()
    elif faults.malformed_xml:
        body = payloads.malformed(body)
    if faults.declared_encoding is not None:
        body = payloads.declared_encoding(body, faults.declared_encoding)
    if faults.wrap_in_string:
        body = payloads.wcf_string(body)
    body += " " * faults.oversize_bytes
    return Response(body, media_type=_XML)


def create_app(state: DentalDesktopState) -> Starlette:
    handlers: dict[str, Callable[[dict[str, str]], Response]] = {
        "getavailableclientlist": lambda params: Response(
            payloads.client_list(state.clients, dt.datetime.now(dt.UTC)), media_type=_XML
        ),
        "getcasesforpatient": lambda params: _cases_for_patient(state, params),
        "getattachedimage": lambda params: _attached_image(state, params),
        "getrequeststatusbyid": lambda params: _request_status(state, params),
        "removerequestbyid": lambda params: _remove_request(state, params),
        **{method: partial(_write, state, method) for method in WRITE_METHODS},
    }

    async def endpoint(request: Request) -> Response:
        method = request.path_params["method"].lower()
        creds = _credentials(request)
        authorized = _authorized(state, creds)
        state.requests.append(SeenRequest(method, request.url.query, creds is not None, authorized))
        faults = state.faults
        if faults.applies_to(method):
            if faults.delay_s:
                await asyncio.sleep(faults.delay_s)
            if faults.fail_next:
                return Response(f"simulated failure on {method}", faults.fail_next.pop(0))
        if not authorized:
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="DentalDesktop"'})
        handler = handlers.get(method)
        if handler is None:
            return Response(status_code=404)
        params = {key.lower(): value for key, value in request.query_params.items()}
        try:
            response = handler(params)
        except _Invalid as exc:
            return Response(str(exc), 400, media_type="text/plain")
        return _with_faults(state, method, response)

    return Starlette(routes=[Route("/DentalDesktop/WebService/{method}", endpoint)])

