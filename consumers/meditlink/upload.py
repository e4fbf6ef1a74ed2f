"""Medit Link `upload_file`: attach a file to a case (meditlink-openapi.txt Appendix B "How to attach a
file", §3.4.2 Register File information, §3.4.3 Upload File).

1. the source is measured before anything is sent: size and base64 MD5 ("Generate a file hash value");
2. `POST /v1/files` registers it with `callbackUrl` = the connection's upload-callback route; the file
   uuid is recorded and linked to the command before the upload, so the callback finds it;
3. `PUT {uploadUrl}` streams the file with `Content-MD5` and `Content-Length` (no credentials: the URL is
   pre-signed; only to an allowed host). Its 30 minutes (`dateExpired`) lapsed → register again (at most
   `MAX_REGISTRATIONS` times); a 5xx is retried (a PUT of the same bytes to the same key is idempotent);
4. the command waits for Medit's callback, which the receiver matches by file uuid (receiver/meditlink.py).

Reconciling after a restart: an upload recorded as done waits for its callback (or is done when the case
already lists the file); a registration whose upload may or may not have happened is `outcome_unknown`.
"""

from __future__ import annotations

import asyncio
import mimetypes
from datetime import UTC, datetime
from typing import Any

import httpx

from consumers.commands.action import Awaiting, Done, Outcome, Run
from consumers.commands.sources import UploadFile, open_source
from consumers.context import WorkContext
from consumers.download import check_allowed
from consumers.errors import ArtifactRejected, CommandFailed, RetryableError
from consumers.http import ERROR_BODY_BYTES, json_of, translate_transport_errors
from consumers.limits import read_capped
from consumers.meditlink.client import MeditClient
from consumers.meditlink.commands import call, client_of, named
from consumers.privacy import Privacy
from consumers.urlpath import segment
from schemas.commands.meditlink import UploadFile as UploadCommand
from schemas.settings import MeditConnection

MAX_REGISTRATIONS = 3
PUT_ATTEMPTS = 3
EXPIRY_MARGIN_S = 30.0  # register again rather than start a PUT this close to the URL's end
LINK_KIND = "upload"


def callback_url(ctx: WorkContext, connection: MeditConnection) -> str:
    """The connection's upload-callback route, as the vendor reaches it (receiver.public_url)."""
    token = connection.webhook.token.get_secret_value()
    return f"{ctx.settings.receiver.public_url.rstrip('/')}/hooks/meditlink/{token}"


def _expires(answer: dict[str, Any]) -> float | None:
    text = answer.get("dateExpired")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _lapsed(response: httpx.Response) -> bool:
    """S3's 403 for a pre-signed URL past its time ("Request has expired")."""
    return response.status_code == 403 and b"expired" in response.content.lower()


class UploadAction:
    model = UploadCommand

    async def prepare(self, command: Any, ctx: WorkContext) -> UploadFile:
        return await open_source(command.source, ctx, name=command.name)

    async def close(self, prepared: Any) -> None:
        if isinstance(prepared, UploadFile):
            prepared.discard()

    async def execute(self, command: Any, run: Run, prepared: Any) -> Outcome:
        assert isinstance(prepared, UploadFile)
        client = client_of(run.ctx, command)
        for registration in range(1, MAX_REGISTRATIONS + 1):
            answer = await self._register(client, command, run, prepared)
            file_uuid = str(answer["uuid"])
            await run.link(LINK_KIND, file_uuid)
            name = Privacy.of(run.ctx.settings.privacy).file_name(prepared.name)  # may carry a patient's
            await run.progress(file_uuid=file_uuid, registrations=registration, name=name,
                               size=prepared.size, case_uuid=command.case_uuid)
            if await self._put(client, run, answer, prepared):
                await run.progress(uploaded=True)
                return Awaiting({"file_uuid": file_uuid})
        raise CommandFailed("vendor_unavailable", f"the upload URL lapsed {MAX_REGISTRATIONS} times before "
                                                  "the file was uploaded", retryable=True)

    async def _register(self, client: MeditClient, command: Any, run: Run,
                        file: UploadFile) -> dict[str, Any]:
        connection = client.connection
        body = {"caseUuid": command.case_uuid, "name": file.name, "size": file.size,
                "hashValue": file.md5_b64, "callbackUrl": callback_url(run.ctx, connection)}
        answer = await call(client, "POST", "files", "register file", body)
        if isinstance(answer, CommandFailed):
            if answer.reason == "vendor_unavailable":  # registered or not: no way to read it back
                answer.reason = "outcome_unknown"
                answer.retryable = False
            raise answer
        parsed = json_of(answer, "register file")
        if not isinstance(parsed, dict) or not parsed.get("uuid") or not isinstance(parsed.get("uploadUrl"),
                                                                                      str):
            raise CommandFailed("vendor_refused", "register file: the answer has no uuid or uploadUrl",
                                vendor_status=answer.status_code)
        segment(str(parsed["uuid"]), "file uuid")
        return parsed

    async def _put(self, client: MeditClient, run: Run, answer: dict[str, Any], file: UploadFile) -> bool:
        """True when uploaded; False when the URL lapsed (register again)."""
        try:
            url = check_allowed(answer["uploadUrl"], client.allowed_hosts, None)
        except ArtifactRejected as exc:
            raise CommandFailed("vendor_refused", f"upload URL refused: {exc}") from None
        if url.scheme == "http" and not client.connection.api_url.startswith("http://"):
            raise CommandFailed("vendor_refused", "upload URL refused: plain http")
        settings = run.ctx.settings.commands
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = {"Content-MD5": file.md5_b64, "Content-Length": str(file.size), "Content-Type": media_type}
        for attempt in range(1, PUT_ATTEMPTS + 1):
            expires = _expires(answer)
            if expires is not None and expires - EXPIRY_MARGIN_S <= datetime.now(UTC).timestamp():
                return False
            try:
                with translate_transport_errors():
                    request = run.ctx.http.build_request("PUT", url, headers=headers,
                                                         content=file.chunks(settings.chunk_bytes))
                    response = await run.ctx.http.send(request, stream=True)
                    try:
                        body = await read_capped(response, ERROR_BODY_BYTES, "upload", truncate=True)
                    finally:
                        await response.aclose()
            except RetryableError as exc:
                if attempt == PUT_ATTEMPTS:
                    raise CommandFailed("vendor_unavailable", f"upload: {exc}", retryable=True) from None
                await asyncio.sleep(attempt)
                continue
            response = httpx.Response(response.status_code, content=body, request=response.request)
            if response.is_success:
                return True
            if _lapsed(response):
                return False
            if response.status_code >= 500 and attempt < PUT_ATTEMPTS:
                await asyncio.sleep(attempt)
                continue
            code = "vendor_unavailable" if response.status_code >= 500 else "vendor_refused"
            raise CommandFailed(code, f"upload: {response.status_code} {_s3_code(body)}",
                                retryable=code == "vendor_unavailable", vendor_status=response.status_code,
                                vendor_error=_s3_code(body) or None)
        return False  # pragma: no cover - the loop returns or raises

    async def reconcile(self, command: Any, run: Run) -> Outcome:
        progress = run.record.progress
        file_uuid = progress.get("file_uuid")
        if not isinstance(file_uuid, str):
            raise CommandFailed("outcome_unknown", "the executor stopped while registering the file; whether "
                                                   "Medit registered it is not known")
        client = client_of(run.ctx, command)
        try:
            case = await client.get_case(command.case_uuid)
        except Exception as exc:  # noqa: BLE001 - the case cannot be read: nothing can be told
            raise CommandFailed("outcome_unknown",
                                f"the case cannot be read now ({type(exc).__name__})") from None
        files = case.get("files") if isinstance(case, dict) else None
        for listed in files if isinstance(files, list) else []:
            if isinstance(listed, dict) and listed.get("uuid") == file_uuid:
                kept = {k: listed[k] for k in ("uuid", "name", "size", "fileType") if k in listed}
                return Done({"file_uuid": file_uuid}, named(run.ctx, kept), reconciled=True)
        if progress.get("uploaded"):
            return Awaiting({"file_uuid": file_uuid})  # still processing: Medit's callback finishes it
        raise CommandFailed("outcome_unknown", "the executor stopped while uploading; whether the upload "
                                               "reached Medit is not known (the case does not list it yet)")


def _s3_code(body: bytes) -> str:
    """The <Code> of an S3 XML error, for the result; nothing else of the body."""
    start, end = body.find(b"<Code>"), body.find(b"</Code>")
    return body[start + 6:end].decode("ascii", "replace")[:64] if 0 <= start < end else ""
