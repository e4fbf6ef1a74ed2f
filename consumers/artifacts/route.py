"""GET /artifacts/{artifact_id}: an artifact for a downstream service without store credentials
(issue 13 item 4; RFC 9110 §13.1.2 If-None-Match, §14 Range requests, RFC 6266 Content-Disposition).

Bearer tokens per subscriber, configured as sha256 digests and compared in constant time against all
of them. The folder backend streams the file (Range, ETag = the sha256, 304, 416); the S3 backend
answers 307 to a short-lived pre-signed URL, where the store serves Range itself. Every request is an
audit record: who, which artifact id, the outcome — never a file name or anything of the patient.
A bad token is 401 and an unknown id 404, each as JSON without detail; the token is checked first,
so ids cannot be probed without one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from consumers import announced
from consumers.artifacts.base import ArtifactStore
from consumers.errors import ArtifactRejected
from schemas.settings import ArtifactRouteSettings, Subscriber
from state.base import StateStore

audit = logging.getLogger("scanbridge.audit")


class ArtifactFile(FileResponse):
    """A file in 1 MiB reads (Starlette's 64 KiB cost a thread hop each: ~100 MB/s for a 100 MB scan)."""

    chunk_size = 1024 * 1024


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(header: str | None, subscribers: list[Subscriber]) -> Subscriber | None:
    """The subscriber whose token digest matches; every configured digest is compared."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    presented = token_digest(token.strip()).encode()
    found: Subscriber | None = None
    for subscriber in subscribers:
        if hmac.compare_digest(presented, subscriber.token_sha256.encode()):
            found = subscriber
    return found


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def serve_artifact(request: Request, store: ArtifactStore, state: StateStore, artifact_id: str,
                         presign_ttl_s: int, who: str) -> Response:
    """The artifact's bytes (folder: a file answer with Range and ETag; S3: a redirect to a pre-signed URL)
    for someone already authenticated (`who`, as the audit line names them: `subscriber=…`, `console=…`).
    The artifact is found by id in `state`: the marker of its announcement (consumers.announced)."""
    artifact = await announced.find(state, artifact_id)
    if artifact is None:
        audit.info("artifact fetch: %s artifact=- outcome=not_found", who)
        return JSONResponse({"error": "not found"}, 404)
    etag = f'"{artifact["sha256"]}"'
    if _matches(request.headers.get("if-none-match"), etag):
        audit.info("artifact fetch: %s artifact=%s outcome=not_modified", who, artifact_id)
        return Response(status_code=304, headers={"etag": etag})
    try:
        where = await store.locate(artifact["relative_path"], ttl_s=presign_ttl_s)
    except ArtifactRejected:
        audit.info("artifact fetch: %s artifact=%s outcome=not_found", who, artifact_id)
        return JSONResponse({"error": "not found"}, 404)
    ranged = "range" in request.headers
    if isinstance(where, Path):
        if not await asyncio.to_thread(where.is_file):
            audit.info("artifact fetch: %s artifact=%s outcome=gone", who, artifact_id)
            return JSONResponse({"error": "not found"}, 404)
        audit.info("artifact fetch: %s artifact=%s outcome=served range=%s", who, artifact_id, ranged)
        return ArtifactFile(where, media_type=artifact["media_type"], filename=artifact["file_name"],
                            headers={"etag": etag, "cache-control": "private, no-cache"})
    audit.info("artifact fetch: %s artifact=%s outcome=redirected ttl_s=%d", who, artifact_id, presign_ttl_s)
    return RedirectResponse(where, 307, headers={"etag": etag, "cache-control": "no-store"})


def create_route_app(settings: ArtifactRouteSettings, store: ArtifactStore, state: StateStore) -> Starlette:
    async def get_artifact(request: Request) -> Response:
        artifact_id = request.path_params["artifact_id"]
        subscriber = authenticate(request.headers.get("authorization"), settings.subscribers)
        if subscriber is None:
            audit.info("artifact fetch refused: unauthorized")
            return JSONResponse({"error": "unauthorized"}, 401, headers={"www-authenticate": "Bearer"})
        return await serve_artifact(request, store, state, artifact_id, settings.presign_ttl_s,
                                    f"subscriber={subscriber.name}")

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": "not found"}, 404)

    return Starlette(routes=[Route("/artifacts/{artifact_id}", get_artifact, methods=["GET", "HEAD"])],
                     exception_handlers={404: not_found})
