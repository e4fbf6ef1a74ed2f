"""3Shape Dental Desktop commands: each a method called with the command id as its `RequestId`, then
`GetRequestStatusById` read until the request ends (3shape-dental-desktop-pms-integration.txt
"/CreatePatient", "/UpdatePatient", "/CreateCase", "/SelectCase", "/GetRequestStatusById",
"/RemoveRequestById", "Request status reference").

The server keeps only the last ten statuses, so the status is read every `request_poll_s` (default 1 s)
while the command holds its subject; -1 (waiting for a client) and 0 (a client handles it) go on, 4 is
`command.succeeded`, 3 (removed) `command.failed` `cancelled`, any other code `command.failed` with the
code in `vendor_error`. A request no client picked up within `request_timeout_s` is removed from the pool.
After a restart the same status answers whether the call applied — the method is never called again;
status 404 (never made, or more than ten requests ago) is `outcome_unknown`. A created patient is watched
(consumers/threeshape/watchlist.py). `cancel_request` removes a command's request while it still waits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from consumers.commands.action import Done, NothingToClose, Outcome, Run
from consumers.context import WorkContext
from consumers.errors import CommandFailed, InvalidCommand, RetryableError, Unauthorized
from consumers.threeshape.client import DentalDesktopClient
from consumers.threeshape.connection import open_http
from consumers.threeshape.tls import UntrustedServer
from consumers.threeshape.watchlist import WatchList
from consumers.threeshape.xml import InvalidResponse, RequestStatus
from schemas.commands.base import CommandData
from schemas.commands.threeshape import CancelRequest, CreateCase, CreatePatient, SelectCase, UpdatePatient
from schemas.settings import ThreeShapeConnection

log = logging.getLogger(__name__)

WAITING, ACCEPTED, REMOVED, PROCESSED, NOT_FOUND = -1, 0, 3, 4, 404
RETRYABLE = {2, 6, 10, 108}  # navigation failed, client not responding, exceptions: another try may work
UNAVAILABLE = {6, 10, 108}
MAX_DESCRIPTION = 300
STATUS_READ_FAILURES = 5  # status reads in a row that fail before the outcome is unknown


def connection_of(ctx: WorkContext, command: CommandData) -> ThreeShapeConnection:
    connection = ctx.catalog.get(command.vendor, command.connection)
    if not isinstance(connection, ThreeShapeConnection):
        raise InvalidCommand("unknown_connection", f"no 3shape connection {command.connection!r}")
    return connection


def _date(command: Any) -> str | None:
    born = getattr(command, "patient_date_of_birth", None)
    return born.isoformat() if born else None  # the invariant format the doc asks for


def params_of(command: Any) -> dict[str, str]:
    """The method's parameters (names as in the doc; values are case sensitive), without the RequestId."""
    values: dict[str, Any] = {
        "IntegrationId": getattr(command, "integration_id", None),
        "FirstName": getattr(command, "patient_first_name", None),
        "LastName": getattr(command, "patient_last_name", None),
        "DateOfBirth": _date(command), "PatientId": getattr(command, "patient_id", None),
        "CaseId": getattr(command, "case_id", None), "ClientId": getattr(command, "client_id", None),
    }
    if isinstance(command, CreatePatient):
        values["MergePatient"] = "True" if command.merge else "False"
    if isinstance(command, UpdatePatient):  # a parameter left out erases the field (doc): send it empty
        values = {k: "" if v is None and k in ("FirstName", "DateOfBirth", "PatientId") else v
                  for k, v in values.items()}
    return {k: str(v) for k, v in values.items() if v is not None}


def failure(status: RequestStatus, what: str) -> CommandFailed:
    """A request that ended with another code than 4: the doc's code and description."""
    description = " ".join(status.description.split())[:MAX_DESCRIPTION]
    text = f"{what}: request status {status.code}" + (f" ({description})" if description else "")
    if status.code == REMOVED:
        return CommandFailed("cancelled", f"{text}: removed from the pool before a client picked it up",
                             vendor_error=str(status.code))
    reason = "vendor_unavailable" if status.code in UNAVAILABLE else "vendor_refused"
    return CommandFailed(reason, text, retryable=status.code in RETRYABLE, vendor_error=str(status.code))


class ConnectionChecked(NothingToClose):
    """`prepare` refuses a command of an unknown 3Shape connection; nothing else to get ready."""

    async def prepare(self, command: Any, ctx: WorkContext) -> None:
        connection_of(ctx, command)


@dataclass(frozen=True)
class RequestAction(ConnectionChecked):
    """One write method with `RequestId` = the command id, then its status until the request ends."""

    model: type[CommandData]
    method: str

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        connection = connection_of(run.ctx, command)
        request_id = str(command.command_id)
        async with await _open(connection) as http:
            client = DentalDesktopClient(http, limits=run.ctx.settings.worker.limits)
            try:
                status, _ = await client.write(self.method, params_of(command) | {"RequestId": request_id})
            except Unauthorized as exc:
                raise CommandFailed("needs_reauthorization", str(exc), vendor_status=401) from None
            except RetryableError as exc:  # did it arrive? the request status will say
                log.warning("3shape %s %s: %s; reading its status", self.method, request_id, exc)
                status = 0
            if status >= 500:
                log.warning("3shape %s %s answered %d; reading its status", self.method, request_id, status)
            await run.progress(sent=True, http_status=status)
            return await self._settle(client, connection, command, run, reconciled=False)

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        """Interrupted after (or while) calling: the request's status says what became of it."""
        connection = connection_of(run.ctx, command)
        async with await _open(connection) as http:
            client = DentalDesktopClient(http, limits=run.ctx.settings.worker.limits)
            return await self._settle(client, connection, command, run, reconciled=True)

    async def _settle(self, client: DentalDesktopClient, connection: ThreeShapeConnection, command: Any,
                      run: Run, *, reconciled: bool) -> Outcome:
        request_id = str(command.command_id)
        clock = run.ctx.clock
        deadline = clock.now() + connection.request_timeout_s
        failures = 0
        last: int | None = None
        while True:
            try:
                status = await client.request_status(request_id)
                failures = 0
            except Unauthorized as exc:
                raise CommandFailed("needs_reauthorization", str(exc), vendor_status=401) from None
            except (RetryableError, InvalidResponse) as exc:
                failures += 1
                if failures >= STATUS_READ_FAILURES or clock.now() >= deadline:
                    unreadable = f"{self.method}: the request status cannot be read ({type(exc).__name__})"
                    raise CommandFailed("outcome_unknown", f"{unreadable}: whether it applied is not known"
                                        ) from None
                await clock.sleep(connection.request_poll_s)
                continue
            if status.code != last:
                last = status.code
                await run.progress(status_code=status.code)
            if status.code == PROCESSED:
                await self._processed(command, run, connection)
                return Done({"request_id": request_id},
                            {"status_code": status.code, "status_description": status.description[:300]},
                            reconciled=reconciled)
            if status.code == NOT_FOUND:
                raise CommandFailed("outcome_unknown", f"{self.method}: the server has no status for request "
                                    f"{request_id} (404: never made, or more than ten requests ago); whether "
                                    "it applied is not known", vendor_error="404")
            if status.code not in (WAITING, ACCEPTED):
                raise failure(status, self.method)
            if clock.now() >= deadline:
                raise await self._overdue(client, connection, request_id, status)
            await clock.sleep(connection.request_poll_s)

    async def _overdue(self, client: DentalDesktopClient, connection: ThreeShapeConnection, request_id: str,
                       status: RequestStatus) -> CommandFailed:
        after = f"{connection.request_timeout_s:.0f} s"
        if status.code == WAITING and await client.remove_request(request_id):
            return CommandFailed("vendor_unavailable", f"{self.method}: no 3DD client picked the request up "
                                 f"within {after}; it was removed from the pool", retryable=True,
                                 vendor_error=str(REMOVED))
        return CommandFailed("outcome_unknown", f"{self.method}: a 3DD client was still handling the request "
                             f"after {after} (status {status.code})", vendor_error=str(status.code))

    async def _processed(self, command: Any, run: Run, connection: ThreeShapeConnection) -> None:
        """A created patient is watched (its cases polled) unless the command said not to."""
        if isinstance(command, CreatePatient) and command.watch:
            await WatchList(run.ctx.state, connection).watch([command.integration_id])


@dataclass(frozen=True)
class CancelRequestAction(ConnectionChecked):
    """/RemoveRequestById of another command's request, while no client has picked it up."""

    model: type[CancelRequest] = CancelRequest

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        target = str(command.target_command_id)
        record = await run.log.get(target)
        if record is not None and (record.vendor, record.connection) != (command.vendor, command.connection):
            raise InvalidCommand("invalid", "the target is not a command of this 3shape connection")
        if record is not None and record.finished:
            raise CommandFailed("vendor_refused", f"the target command has already {record.phase}")
        connection = connection_of(run.ctx, command)
        async with await _open(connection) as http:
            client = DentalDesktopClient(http, limits=run.ctx.settings.worker.limits)
            try:
                removed = await client.remove_request(target)
            except Unauthorized as exc:
                raise CommandFailed("needs_reauthorization", str(exc), vendor_status=401) from None
            except (RetryableError, InvalidResponse):
                return await self._settle(client, command, run, reconciled=False)
        if not removed:
            raise CommandFailed("vendor_refused", "RemoveRequestById answered false: no request with that id "
                                "waits in the pool (a client picked it up, it ended, or it was never made)",
                                vendor_error="false")
        return Done({"request_id": target}, {"removed": True})

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        connection = connection_of(run.ctx, command)
        async with await _open(connection) as http:
            client = DentalDesktopClient(http, limits=run.ctx.settings.worker.limits)
            return await self._settle(client, command, run, reconciled=True)

    async def _settle(self, client: DentalDesktopClient, command: Any, run: Run, *,
                      reconciled: bool) -> Outcome:
        """Did the removal apply? The target's status: 3 yes, -1 no, anything else: it was handled."""
        target = str(command.target_command_id)
        try:
            status = await client.request_status(target)
        except (RetryableError, InvalidResponse, Unauthorized) as exc:
            raise CommandFailed("outcome_unknown", "the target's status cannot be read "
                                f"({type(exc).__name__}): whether it was removed is not known") from None
        if status.code == REMOVED:
            return Done({"request_id": target}, {"removed": True}, reconciled=reconciled)
        if status.code == WAITING:
            raise CommandFailed("interrupted", "the request still waits in the pool: it was not removed "
                                "(send a new cancel_request)", retryable=True)
        if status.code == NOT_FOUND:
            raise CommandFailed("outcome_unknown", "the server has no status for the target (404)",
                                vendor_error="404")
        raise CommandFailed("vendor_refused", f"the target request was picked up (status {status.code})",
                            vendor_error=str(status.code))


async def _open(connection: ThreeShapeConnection) -> Any:
    try:
        return await open_http(connection)
    except UntrustedServer as exc:
        raise CommandFailed("vendor_refused", f"{exc}: nothing was sent") from None
    except RetryableError as exc:
        raise CommandFailed("vendor_unavailable", f"the Dental Desktop server cannot be reached ({exc}): "
                            "nothing was sent", retryable=True) from None


def actions() -> list[Any]:
    return [RequestAction(CreatePatient, "CreatePatient"), RequestAction(UpdatePatient, "UpdatePatient"),
            RequestAction(CreateCase, "CreateCase"), RequestAction(SelectCase, "SelectCase"),
            CancelRequestAction()]
