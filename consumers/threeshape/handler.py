"""3Shape worker handler: a `scan.notified` naming a case and an attached image → "/GetAttachedImage"
(XML-wrapped bytes, checked to be an image by its magic bytes) → one `clinical_photo` stored and
announced once per image version (3shape-dental-desktop-pms-integration.txt, "/GetAttachedImage").

The poller already published the case's `order.updated`; the artifact is filed under the order version
the notification carries, so a redelivery finds its marker and stores nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

from consumers import announced
from consumers.context import WorkContext
from consumers.errors import PermanentError, Unauthorized
from consumers.pipeline import ArtifactJob, store_artifacts
from consumers.retry import RetriesExhausted, retrying
from consumers.storage import StoredFile, safe_component
from consumers.threeshape.client import AttachedImage, DentalDesktopClient
from consumers.threeshape.connection import open_http
from consumers.threeshape.normalize import VENDOR
from consumers.threeshape.tls import UntrustedServer
from schemas.events import ArtifactRef, Order, ScanNotified
from schemas.settings import Settings, ThreeShapeConnection

_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/bmp": ".bmp",
               "image/tiff": ".tif"}


def _order_ref(notified: ScanNotified, case_id: str, version: str) -> Order:
    """The order as far as `store_artifacts` needs it (vendor, account, id, version); never published."""
    return Order(vendor=VENDOR, account=notified.account, connection=notified.connection, order_id=case_id,
                 case_id=case_id, stage="unknown", version=version, vendor_record={})


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class ThreeShapeHandler:
    def __init__(self, settings: Settings) -> None:
        self._connections = {c.id: c for c in settings.threeshape}
        self._limits = settings.worker.limits
        self._http: dict[str, httpx.AsyncClient] = {}
        self._lock = asyncio.Lock()

    async def _client(self, connection: ThreeShapeConnection) -> DentalDesktopClient:
        async with self._lock:  # one pinned pre-flight per server, shared by all its orders
            if connection.id not in self._http:
                self._http[connection.id] = await open_http(connection)
            return DentalDesktopClient(self._http[connection.id], limits=self._limits)

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        connection = self._connections.get(notified.connection)
        if connection is None:
            raise PermanentError(f"unknown 3shape connection {notified.connection!r}")
        case_id, image_id = notified.case_id or notified.order_id, notified.file_id
        if not case_id or not image_id or not notified.version:
            return  # a change without an image to fetch: the poller announced the order itself
        order = _order_ref(notified, case_id, notified.version)
        stem = safe_component(image_id)
        for ext in _EXTENSIONS.values():
            if await announced.get(ctx.state, order, case_id, announced.artifact_file("clinical_photo",
                                                                                      stem + ext)):
                return  # this image version is stored and announced already
        policy, what = ctx.settings.worker.retry, f"{VENDOR} attached image"
        client = await retrying(lambda: self._client(connection), policy=policy, clock=ctx.clock, what=what)
        image: AttachedImage | None = None
        failure: Exception | None = None
        try:
            image = await retrying(lambda: client.get_attached_image(case_id, image_id), policy=policy,
                                   clock=ctx.clock, what=what)
        except (PermanentError, RetriesExhausted) as exc:  # announced as artifact.failed below
            failure = exc
            if isinstance(exc, UntrustedServer | Unauthorized):
                await self._forget(connection.id)  # the next event pre-flights the server again

        async def fetch(relative: str) -> StoredFile | None:
            if image is None:
                raise failure or PermanentError("no image")
            return await ctx.store.write(relative, _one(image.data), ctx.settings.worker.max_artifact_bytes)

        # Named by the image id (notifications carry ids only; order.updated pairs each id with its
        # vendor file name) and the extension of the format its magic bytes show.
        media_type = image.media_type if image is not None else "application/octet-stream"
        ref = ArtifactRef(kind="clinical_photo", vendor_ref=image_id, url_host=connection.host)
        job = ArtifactJob(ref=ref, file_name=stem + _EXTENSIONS.get(media_type, ""), media_type=media_type,
                          fetch=fetch, source_host=connection.host)
        # One photo per notification: which is the version's last is not known here (no order.completed).
        await store_artifacts(order, case_id, [job], ctx, completes=False)

    async def _forget(self, connection_id: str) -> None:
        async with self._lock:
            http = self._http.pop(connection_id, None)
        if http is not None:
            await http.aclose()

    async def close(self) -> None:
        clients, self._http = list(self._http.values()), {}
        for http in clients:
            await http.aclose()
