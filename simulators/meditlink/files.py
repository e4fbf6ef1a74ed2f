"""File endpoints and the S3-like pre-signed URLs behind them (meditlink-openapi.txt §3.4.1 Get File,
§3.4.2 Register File information, §3.4.3 Upload File, §3.4.4 Delete File, Appendix B).

URLs are `{base}/s3/{key}?X-Amz-…&X-Amz-Signature=…`; an expired or unknown signature gets 403
with an S3 XML body, as Amazon S3 answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode, urlparse

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.meditlink import render
from simulators.meditlink.archives import archive_for
from simulators.meditlink.errors import MeditError, S3Error
from simulators.meditlink.guard import caller
from simulators.meditlink.records import (
    CONVERT_TYPES,
    CONVERTIBLE_SUFFIXES,
    Presigned,
    Registration,
    iso_millis,
)
from simulators.meditlink.state import MeditSimState


def presign(request: Request, state: MeditSimState, key: str, ttl_s: float, method: str) -> tuple[str, float]:
    """A pre-signed URL for `key` valid `ttl_s` seconds, and its expiry (epoch seconds)."""
    now = state.now()
    signature = state.new_secret()
    state.presigned[signature] = Presigned(key, now + ttl_s, method)
    base = (state.public_base_url or str(request.base_url)).rstrip("/")
    query = urlencode(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Date": datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ"),
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Expires": f"{ttl_s:g}",
            "X-Amz-Credential": "SIMULATORKEY/medit-sim/s3/aws4_request",
            "X-Amz-Signature": signature,
        }
    )
    return f"{base}/s3/{key}?{query}", now + ttl_s


async def get_file(request: Request) -> Response:
    who = caller(request, "FILE")
    state = who.state
    found = state.find_file(request.path_params["file_uuid"])
    if found is None or not state.case_visible(found[0], who.group.uuid):
        raise MeditError(404, "not_found", f"File not found: {request.path_params['file_uuid']}")
    case, case_file = found
    convert = request.query_params.get("type") or None
    if convert is not None:
        convert = convert.lower()
        if convert not in CONVERT_TYPES:
            raise MeditError(400, "bad_request", f"type: must be one of {', '.join(CONVERT_TYPES)}")
        if not case_file.name.endswith(CONVERTIBLE_SUFFIXES):
            raise MeditError(400, "bad_request", f"File cannot be converted: {case_file.name}")
    if case.status == "FORM":  # FAQ: downloadable in all statuses except FORM
        raise MeditError(403, "access_denied", "Case files cannot be downloaded in FORM status")
    key = (
        f"convert-{case_file.uuid}/{case_file.uuid}.{convert}.7z"
        if convert
        else f"{case_file.uuid}/{case_file.uuid}.7z"
    )
    built = state.archives.get(key)
    if built is None:
        built = await asyncio.to_thread(
            archive_for,
            case_file.uuid,
            case_file.name,
            case_file.size,
            convert,
            hostile=case_file.hostile or state.hostile_archive,
            compress=state.compress_archives,
        )
        state.archives[key] = built
    url, expires_at = presign(request, state, key, state.url_ttl_s, "GET")
    return JSONResponse(
        {
            "uuid": case_file.uuid,
            "url": url,
            "downloadFileName": built.download_name,
            "dateExpired": iso_millis(expires_at),
            "items": [dict(i) for i in built.items],
            "schemaVersion": render.SCHEMA,
        }
    )


def _md5_hex(md5_b64: str) -> str:
    try:
        digest = base64.b64decode(md5_b64, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise MeditError(400, "bad_request", "hashValue: must be the Base64 of an MD5 digest")
    return digest.hex()


async def register_file(request: Request) -> Response:
    who = caller(request, "FILE")
    state = who.state
    try:
        body = await request.json()
    except ValueError:
        raise MeditError(400, "bad_request", "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise MeditError(400, "bad_request", "Malformed JSON body")
    for name in ("caseUuid", "name", "hashValue"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise MeditError(400, "bad_request", f"{name}: must not be blank")
    size = body.get("size")
    if not isinstance(size, int) or size < 1:
        raise MeditError(400, "bad_request", "size: must be at least 1")
    callback_url = body.get("callbackUrl", "")
    if not isinstance(callback_url, str) or urlparse(callback_url).scheme not in ("http", "https"):
        raise MeditError(400, "bad_request", "callbackUrl: must be a valid URL")
    md5_hex = _md5_hex(body["hashValue"])
    case = state.cases.get(body["caseUuid"])
    if case is None or not state.case_visible(case, who.group.uuid):
        raise MeditError(404, "not_found", f"Case not found: {body['caseUuid']}")
    # §3.4.2 409 "The requested resource Duplicated": the doc does not say what counts; here the same
    # name and content already uploaded to the case (a registration never uploaded is no file of the case,
    # and registering again is what an expired upload URL asks for).
    for earlier in state.registrations.values():
        same = (earlier.case_uuid, earlier.name, earlier.md5_b64) == (
            case.uuid, body["name"], body["hashValue"])
        if same and earlier.uploaded_size is not None:
            raise MeditError(409, "conflict", "The file is already registered")
    file_uuid = str(uuid.uuid4())
    url, expires_at = presign(request, state, f".openapi/{file_uuid}.tmp", state.upload_ttl_s, "PUT")
    state.registrations[file_uuid] = Registration(
        file_uuid, case.uuid, body["name"], size, body["hashValue"], callback_url, expires_at
    )
    item = {"name": body["name"], "size": size, "hashValue": md5_hex, "hashAlgorithm": "MD5"}
    return JSONResponse(
        {
            "uuid": file_uuid,
            "uploadUrl": url,
            "dateExpired": iso_millis(expires_at),
            "item": item,
            "schemaVersion": render.SCHEMA,
        }
    )


async def delete_file(request: Request) -> Response:
    who = caller(request, "FILE")
    found = who.state.find_file(request.path_params["file_uuid"])
    if found is None or not who.state.case_visible(found[0], who.group.uuid):
        raise MeditError(404, "not_found", f"File not found: {request.path_params['file_uuid']}")
    case, case_file = found
    case.files.remove(case_file)
    who.state.touch_case(case.uuid)
    return JSONResponse(render.case_file(case_file))


def _presigned(request: Request, state: MeditSimState, method: str) -> Presigned:
    grant = state.presigned.get(request.query_params.get("X-Amz-Signature", ""))
    if grant is None or grant.key != request.path_params["key"] or grant.method != method:
        raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
    if grant.expires_at <= state.now():
        raise S3Error(403, "AccessDenied", "Request has expired")
    return grant


def _range(header: str | None, total: int) -> tuple[int, int] | None:
    """A single `bytes=a-b` / `bytes=a-` range, or None for the whole object."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    if not first.isdigit():
        return None
    start, end = int(first), int(last) if last.isdigit() else total - 1
    if start >= total:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    return start, min(end, total - 1)


async def s3_get(request: Request) -> Response:
    state: MeditSimState = request.app.state.sim
    grant = _presigned(request, state, "GET")
    built = state.archives.get(grant.key)
    if built is None:
        raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
    data = built.data
    headers = {"ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"', "Accept-Ranges": "bytes"}
    wanted = _range(request.headers.get("range"), len(data))
    if wanted is None:
        return Response(data, media_type="application/x-7z-compressed", headers=headers)
    start, end = wanted
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return Response(data[start : end + 1], 206, headers=headers, media_type="application/x-7z-compressed")


async def s3_put(request: Request) -> Response:
    """§3.4.3: the body's MD5 must equal the Content-MD5 header and the registered hashValue. The body is
    streamed (digest and size only, nothing kept), so uploads of any size cost the simulator no memory.
    A PUT without Content-Length is refused, as S3 refuses chunked uploads to a pre-signed URL."""
    state: MeditSimState = request.app.state.sim
    grant = _presigned(request, state, "PUT")
    file_uuid = grant.key.removeprefix(".openapi/").removesuffix(".tmp")
    registration = state.registrations[file_uuid]
    if "content-length" not in request.headers:
        raise S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    if state.lapse_next_uploads > 0:  # the URL's 30 minutes ran out while the body was on its way
        state.lapse_next_uploads -= 1
        grant.expires_at = state.now()
        raise S3Error(403, "AccessDenied", "Request has expired")
    actual = base64.b64encode(digest.digest()).decode()
    if request.headers.get("content-md5") != registration.md5_b64 or actual != registration.md5_b64:
        raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    registration.uploaded_size = size
    task = BackgroundTask(state.finish_processing, file_uuid) if state.auto_process_uploads else None
    return Response(b"", headers={"ETag": f'"{digest.hexdigest()}"'}, background=task)


routes = [
    Route("/v1/files", register_file, methods=["POST"]),
    Route("/v1/files/{file_uuid}", get_file, methods=["GET"]),
    Route("/v1/files/{file_uuid}", delete_file, methods=["DELETE"]),
    Route("/s3/{key:path}", s3_get, methods=["GET"]),
    Route("/s3/{key:path}", s3_put, methods=["PUT"]),
]
