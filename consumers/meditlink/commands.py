"""Medit Link order and file commands: accept / reject (labs, §3.5.4, §3.5.5), cancel (clinics, §3.5.3),
delete a file (§3.4.4). Errors per §2.3: 400, 401, 403, 404, 409 ("duplicated or already processed"),
429, 500; the body's `error` and `message` (§2.3.2) go into `command.failed`.

None of these calls carries an idempotency key, so a 5xx, a timeout or a restart between the call and the
record is settled by reading the order (or the file) instead of calling again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from consumers.commands.action import Done, NothingToClose, Outcome, Run
from consumers.context import WorkContext
from consumers.errors import CommandFailed, NotFound, RetryableError, ServerError, Unauthorized
from consumers.http import json_of
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import keeper
from consumers.privacy import Privacy
from consumers.urlpath import segment
from schemas.commands.base import CommandData
from schemas.commands.meditlink import AcceptOrder, CancelOrder, DeleteFile, OrderCommand, RejectOrder
from schemas.settings import MeditConnection

ORDER_ACTIONS: dict[type[OrderCommand], tuple[str, str]] = {
    AcceptOrder: ("accept", "ACCEPTED"),
    RejectOrder: ("reject", "REJECTED"),
    CancelOrder: ("cancel", "CANCELED"),
}
MAX_MESSAGE = 300


def client_of(ctx: WorkContext, command: CommandData) -> MeditClient:
    connection = ctx.catalog.get("meditlink", command.connection)
    if not isinstance(connection, MeditConnection):
        raise CommandFailed("unknown_connection", f"no meditlink connection {command.connection!r}")
    limits = ctx.settings.worker.limits
    return MeditClient(connection, ctx.http, keeper(ctx.keepers, connection, limits), limits)


def named(ctx: WorkContext, file: dict[str, Any]) -> dict[str, Any]:
    """A file's description with its name as `privacy.patient_fields` says (it may carry a patient's)."""
    if "name" not in file:
        return file
    name = Privacy.of(ctx.settings.privacy).file_name(str(file["name"]))
    return {k: v for k, v in file.items() if k != "name"} | ({"name": name} if name else {})


def refusal(response: httpx.Response, what: str) -> CommandFailed:
    """§2.3: the status and the error body (`error`, `message`) as a `command.failed`."""
    status = response.status_code
    error = message = None
    try:
        body = json_of(response, what)
    except Exception:  # noqa: BLE001 - an error answer that is not JSON still has its status
        body = None
    if isinstance(body, dict):
        error = str(body["error"])[:100] if body.get("error") is not None else None
        message = str(body["message"])[:MAX_MESSAGE] if body.get("message") is not None else None
    text = f"{what}: {status}" + (f" {message}" if message else "")
    if status == 401:
        return CommandFailed("needs_reauthorization", text, retryable=True, vendor_status=status,
                             vendor_error=error)
    if status == 429:
        return CommandFailed("throttled", text, retryable=True, vendor_status=status, vendor_error=error)
    if status >= 500 or status == 408:
        return CommandFailed("vendor_unavailable", text, retryable=True, vendor_status=status,
                             vendor_error=error)
    return CommandFailed("vendor_refused", text, vendor_status=status, vendor_error=error)


async def call(client: MeditClient, method: str, path: str, what: str,
                body: dict[str, Any] | None = None) -> httpx.Response | CommandFailed:
    """The answer (2xx), or the failure; a transport failure is a `vendor_unavailable` one."""
    try:
        response = await client.send(method, path, body=body)
    except Unauthorized as exc:  # a refresh the vendor refused: re-authorization needed
        return CommandFailed("needs_reauthorization", str(exc), retryable=True)
    except RetryableError as exc:
        return CommandFailed("vendor_unavailable", f"{what}: {exc}", retryable=True)
    if response.is_success:
        return response
    return refusal(response, what)


@dataclass(frozen=True)
class OrderAction(NothingToClose):
    """PUT /v1/orders/{orderNumber}/{accept|reject|cancel} (§3.5.3–3.5.5)."""

    model: type[OrderCommand]

    @property
    def verb(self) -> str:
        return ORDER_ACTIONS[self.model][0]

    @property
    def target(self) -> str:
        return ORDER_ACTIONS[self.model][1]

    async def prepare(self, command: Any, ctx: WorkContext) -> None:
        return None

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        client = client_of(run.ctx, command)
        path = f"orders/{segment(str(command.order_number), 'order number')}/{self.verb}"
        answer = await call(client, "PUT", path, f"{self.verb} order")
        if isinstance(answer, CommandFailed):
            if answer.reason == "vendor_unavailable":  # did it apply? read, do not call again
                return await self._settle(client, command, answer)
            raise answer
        return Done({"order_number": str(command.order_number)}, _order_summary(json_of(answer, self.verb)))

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        """Interrupted between the PUT and the record: the order's status says whether it applied."""
        interrupted = CommandFailed(
            "interrupted", f"the executor stopped before Medit answered; the order is not {self.target}: "
                           "the command did not apply (send a new command to try again)", retryable=True)
        return await self._settle(client_of(run.ctx, command), command, interrupted)

    async def _settle(self, client: MeditClient, command: Any, otherwise: CommandFailed) -> Outcome:
        try:
            order = await client.get_order(str(command.order_number))
        except NotFound:
            raise CommandFailed("vendor_refused", "the order does not exist (404)",
                                vendor_status=404) from None
        except (RetryableError, ServerError) as exc:
            raise CommandFailed("outcome_unknown", f"the order's status cannot be read now ({exc}); "
                                f"whether the {self.verb} applied is not known") from None
        status = str(order.get("status") or "").upper()
        if status == self.target:
            return Done({"order_number": str(command.order_number)}, _order_summary(order), reconciled=True)
        if status == "PENDING":
            raise otherwise
        raise CommandFailed("vendor_refused", f"the order is {status or 'in an unknown state'}, not "
                                              f"{self.target}", vendor_status=None)


def _order_summary(order: Any) -> dict[str, Any]:
    """What downstream needs of the answer: number, status, dates; never the patient."""
    if not isinstance(order, dict):
        return {}
    return {k: order[k] for k in ("orderNumber", "status", "dateUpdated") if k in order}


@dataclass(frozen=True)
class DeleteFileAction(NothingToClose):
    """DELETE /v1/files/{fileUuid} (§3.4.4)."""

    model: type[DeleteFile] = DeleteFile

    async def prepare(self, command: Any, ctx: WorkContext) -> None:
        return None

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        client = client_of(run.ctx, command)
        path = f"files/{segment(command.file_uuid, 'file uuid')}"
        answer = await call(client, "DELETE", path, "delete file")
        if isinstance(answer, CommandFailed):
            if answer.reason == "vendor_unavailable":
                return await self._settle(client, command, answer)
            raise answer
        body = json_of(answer, "delete file")
        kept = {k: body[k] for k in ("uuid", "name", "size", "fileType")
                if isinstance(body, dict) and k in body}
        return Done({"file_uuid": command.file_uuid}, named(run.ctx, kept))

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        interrupted = CommandFailed("interrupted", "the executor stopped before Medit answered; the file is "
                                                   "still there: the delete did not apply", retryable=True)
        return await self._settle(client_of(run.ctx, command), command, interrupted)

    async def _settle(self, client: MeditClient, command: Any, otherwise: CommandFailed) -> Outcome:
        """The file gone (404 on §3.4.1 Get File) means the delete applied."""
        try:
            await client.get_file(command.file_uuid, None)
        except NotFound:
            return Done({"file_uuid": command.file_uuid}, None, reconciled=True)
        except Exception as exc:  # noqa: BLE001 - anything else: the state cannot be told
            raise CommandFailed("outcome_unknown", f"the file cannot be read now ({type(exc).__name__}); "
                                                   "whether the delete applied is not known") from None
        raise otherwise


def actions() -> list[Any]:
    from consumers.meditlink.upload import UploadAction  # it builds on this module

    return [*(OrderAction(model) for model in ORDER_ACTIONS), DeleteFileAction(), UploadAction()]
