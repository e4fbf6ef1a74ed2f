"""iTero commands: push an Rx to the scanner and delete it (itero-dpms-api.txt "Scan Request",
"Delete RX"; errors per their response-code tables: 400, 401, 409 (scan request only), 500).

Neither call carries an idempotency key, and the API has no list of the Rx a scan request created (only
orders, once scanned: "Get Orders for Practice", "Get Order by RX ID"), so an interrupted call cannot be
settled by reading iTero: the Rx id is recorded the moment iTero answers; a restart that finds it settles
the command as succeeded, one that does not find it publishes `outcome_unknown` (never a second push).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from consumers.commands.action import Done, NothingToClose, Outcome, Run
from consumers.context import WorkContext
from consumers.errors import CommandFailed, InvalidCommand, RetryableError, Unauthorized
from consumers.http import json_of
from consumers.itero import pairing
from consumers.itero.client import IteroClient
from consumers.records import unwrap_data
from consumers.urlpath import segment
from schemas import ids
from schemas.commands.base import CommandData
from schemas.commands.itero import RX_LINK, DeleteRx, ScanRequest
from schemas.settings import IteroConnection

MAX_MESSAGE = 300
DUPLICATE_CHART = "duplicate_chart_number"
UNRECORDED = "the executor stopped before iTero's answer was recorded, and "


def connection_of(ctx: WorkContext, command: CommandData) -> IteroConnection:
    connection = ctx.catalog.get(command.vendor, command.connection)
    if not isinstance(connection, IteroConnection):
        raise InvalidCommand("unknown_connection", f"no itero connection {command.connection!r}")
    return connection


def client_of(ctx: WorkContext, command: CommandData) -> IteroClient:
    connection = connection_of(ctx, command)
    limits = ctx.settings.worker.limits
    return IteroClient(connection, ctx.http, pairing.keeper(ctx.keepers, connection, limits), limits)


def _message(response: httpx.Response) -> str | None:
    """iTero's error bodies carry `Message` (any case); the first 300 characters of it."""
    try:
        body = json_of(response, "error")
    except Exception:  # noqa: BLE001 - an error answer that is not JSON still has its status
        return None
    if isinstance(body, dict):
        for key, value in body.items():
            if str(key).lower() == "message" and value is not None:
                return str(value)[:MAX_MESSAGE]
    return None


def refusal(response: httpx.Response, what: str) -> CommandFailed:
    status = response.status_code
    message = _message(response)
    text = f"{what}: {status}" + (f" {message}" if message else "")
    if status == 401:  # the keeper refreshed once already: the pairing is gone
        return CommandFailed("needs_reauthorization", text, retryable=True, vendor_status=status)
    if status == 429:
        return CommandFailed("throttled", text, retryable=True, vendor_status=status)
    if status >= 500 or status == 408:
        return CommandFailed("vendor_unavailable", text, retryable=True, vendor_status=status)
    return CommandFailed("vendor_refused", text, vendor_status=status)


async def call(client: IteroClient, method: str, path: str, what: str,
               body: dict[str, Any] | None = None) -> httpx.Response | CommandFailed:
    """The 2xx answer, or the failure; a transport failure or timeout is a `vendor_unavailable` one."""
    try:
        response = await client.send(method, path, body=body)
    except Unauthorized as exc:  # the refresh-token exchange was refused
        return CommandFailed("needs_reauthorization", f"{what}: {exc}", retryable=True)
    except RetryableError as exc:
        return CommandFailed("vendor_unavailable", f"{what}: {exc}", retryable=True)
    return response if response.is_success else refusal(response, what)


def rx_of(response: httpx.Response, what: str) -> str:
    """`{"Data": "<Rx GUID>", "Status": 1}` → the Rx id (any case of `Data`; a bare GUID string too)."""
    data = unwrap_data(json_of(response, what))
    if isinstance(data, dict):  # tolerate {"Data": {"RxId": …}}
        data = next((v for k, v in data.items() if str(k).lower() in ("rxid", "id")), None)
    rx = ids.canonical_guid(str(data)) if isinstance(data, str | int) else None
    if rx is None:
        raise CommandFailed("outcome_unknown", f"{what}: iTero answered 200 without an Rx id; the Rx may "
                                               "exist on the scanner", vendor_status=response.status_code)
    return rx


def scan_request_body(command: ScanRequest, company_id: int) -> dict[str, Any]:
    """The documented body; optional fields only when given (an empty LicenseNumber keeps the current)."""
    body: dict[str, Any] = {
        "CompanyId": company_id, "DoctorId": command.doctor_id,
        "PatientFirstName": command.patient_first_name, "PatientLastName": command.patient_last_name,
        "PatientChartNumber": command.patient_chart_number,
    }
    optional = {
        "LicenseNumber": command.license_number, "Gender": command.patient_gender,
        "DateOfBirth": command.patient_date_of_birth.isoformat() if command.patient_date_of_birth else None,
        "Notes": command.notes, "labId": command.lab_id, "procedureMapId": command.procedure_map_id,
    }
    return body | {k: v for k, v in optional.items() if v is not None}


@dataclass(frozen=True)
class ScanRequestAction(NothingToClose):
    """POST scan-request: the Rx id is recorded and linked before the command is finished, so the later
    scan notification for it carries the command id."""

    model: type[ScanRequest] = ScanRequest

    async def prepare(self, command: Any, ctx: WorkContext) -> int:
        """The CompanyId: the command's, else the connection's (mandatory for iTero)."""
        configured = connection_of(ctx, command).company_id
        if command.company_id is not None:
            if configured and str(command.company_id) != configured:
                raise InvalidCommand("not_authorized", "company_id is not the connection's CompanyId")
            return int(command.company_id)
        if configured and configured.isdigit():
            return int(configured)
        raise InvalidCommand("invalid", "company_id is required: the connection has no numeric company_id")

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        client = client_of(run.ctx, command)
        body = scan_request_body(command, prepared)
        answer = await call(client, "POST", "scan-request", "scan request", body)
        if isinstance(answer, CommandFailed):
            if answer.vendor_status == 409:
                raise CommandFailed(
                    "vendor_refused", "more than one patient has this chart number (409): the Rx was not "
                    "created; fix the duplicate chart numbers in iTero, then send a new command",
                    vendor_status=409, vendor_error=DUPLICATE_CHART)
            if answer.reason == "vendor_unavailable":  # did iTero create the Rx? nothing to read that says
                raise CommandFailed("outcome_unknown", f"{answer.message}; iTero has no list of Rx to check "
                                    "whether it was created: look on the scanner before sending again",
                                    retryable=True, vendor_status=answer.vendor_status)
            raise answer
        rx = rx_of(answer, "scan request")
        await run.progress(rx_id=rx)
        await run.link(RX_LINK, rx)
        return Done({"rx_id": rx}, {"rx_id": rx})

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        """Interrupted: the Rx id recorded means the Rx was created; without it, nobody can tell."""
        rx = run.record.progress.get("rx_id")
        if isinstance(rx, str) and rx:
            await run.link(RX_LINK, rx)
            return Done({"rx_id": rx}, {"rx_id": rx}, reconciled=True)
        raise CommandFailed("outcome_unknown", UNRECORDED + "iTero's API lists no pending Rx: whether "
                            "the Rx was created is not known (look on the scanner before sending again)")


@dataclass(frozen=True)
class DeleteRxAction(NothingToClose):
    """DELETE scan-request/{RXID}."""

    model: type[DeleteRx] = DeleteRx

    async def prepare(self, command: Any, ctx: WorkContext) -> None:
        connection_of(ctx, command)
        return None

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        rx = str(command.rx_id)
        client = client_of(run.ctx, command)
        answer = await call(client, "DELETE", f"scan-request/{segment(rx, 'Rx id')}", "delete Rx")
        if isinstance(answer, CommandFailed):
            if answer.reason == "vendor_unavailable":
                raise CommandFailed("outcome_unknown", f"{answer.message}; iTero has no read of a pending "
                                    "Rx: whether it was deleted is not known (a new delete_rx answers 400 if "
                                    "it is gone)", retryable=True, vendor_status=answer.vendor_status)
            raise answer
        return Done({"rx_id": rx}, {"rx_id": rx})

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        raise CommandFailed("outcome_unknown", UNRECORDED + "iTero's API has no read of a pending Rx: "
                            "whether it was deleted is not known (a new delete_rx answers 400 if it is gone)",
                            retryable=True)


def actions() -> list[Any]:
    return [ScanRequestAction(), DeleteRxAction()]
