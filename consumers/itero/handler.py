"""iTero / Align worker handler: order by Rx id → `order.updated` → IDE, IMAGE_GALLERY and
SCREEN_CAPTURE zips stored, or one later screen capture (itero-dpms-api.txt Get Order by RX ID,
Download Scan, Download Single Screen Capture; Align §3.6–3.9; an un-paired account: §3.8.2, seen
on the order fetch or on any download: a refresh refused mid-download ends the order as un-paired)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from consumers.context import WorkContext
from consumers.download import host_of
from consumers.errors import ArtifactRejected, LinkExpired, PermanentError, Unauthorized
from consumers.itero import orderindex, pairing
from consumers.itero.client import IteroClient
from consumers.itero.normalize import PATIENT_KEYS, normalize, returned_link
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.privacy import Privacy
from consumers.retry import retrying
from consumers.storage import StoredFile, safe_component
from schemas.events import ArtifactRef, Order, ScanNotified, VendorChecksum
from schemas.ids import rx_key
from schemas.settings import IteroConnection, Settings

JPEG_MAGIC = b"\xff\xd8\xff"


def _is_zip(stored: StoredFile) -> VendorChecksum | None:
    """A zip's end records lie in its last 64 KiB + 98 bytes: the staged tail holds them."""
    if not zipfile.is_zipfile(io.BytesIO(stored.tail)):
        raise ArtifactRejected("downloaded asset is not a zip archive")
    return None


def _is_jpeg(stored: StoredFile) -> VendorChecksum | None:
    if stored.head[:3] != JPEG_MAGIC:
        raise ArtifactRejected("downloaded screen capture is not a JPG")
    return None


async def _download(client: IteroClient, url: str, relative: str, ctx: WorkContext) -> StoredFile | None:
    return await client.download(url, ctx.store, relative, max_bytes=ctx.settings.worker.max_artifact_bytes,
                                 chunk_bytes=ctx.settings.worker.download_chunk_bytes)


class IteroHandler:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def client(self, notified: ScanNotified, ctx: WorkContext) -> IteroClient:
        connection = ctx.catalog.get(notified.vendor, notified.connection)
        if not isinstance(connection, IteroConnection):
            raise PermanentError(f"unknown connection {notified.vendor}/{notified.connection}")
        state = await pairing.unpaired(ctx.state, connection)
        if state is not None:  # dead-letter at once: no retry loop against a refused pairing
            since = state.failing_since or state.last_error_at
            when = f" since {since:%Y-%m-%dT%H:%MZ}" if since else ""
            raise Unauthorized(f"connection {connection.id!r} un-paired{when}")
        return IteroClient(connection, ctx.http, pairing.keeper(ctx.keepers, connection),
                           ctx.settings.worker.limits)

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        if not notified.rx_id:
            raise PermanentError("scan.notified without an Rx id")
        rx_id = rx_key(notified.rx_id)  # one spelling for subject, key and folder, whoever sent it
        client = await self.client(notified, ctx)
        try:
            if notified.file_id:
                await self._capture(rx_id, notified.file_id, notified, client, ctx)
            else:
                await self._order(rx_id, notified, client, ctx)
        except Unauthorized as exc:
            await pairing.mark_unpaired(ctx.state, ctx.publisher.bus, ctx.settings.bus.topics,
                                        client.connection, str(exc))
            raise

    async def _fetch_order(self, rx_id: str, notified: ScanNotified, client: IteroClient,
                           ctx: WorkContext) -> tuple[dict[str, Any], Order]:
        record = await retrying(lambda: client.get_order(rx_id), policy=ctx.settings.worker.retry,
                                clock=ctx.clock, what=f"{notified.vendor} order")
        order = normalize(record, vendor=notified.vendor, account=notified.account,
                          connection=notified.connection, resolve_link=client.asset_url)
        order = Privacy.of(ctx.settings.privacy).order(order, PATIENT_KEYS)
        order = await announce_order(order, rx_id, ctx, notified.inbound_id)
        await orderindex.remember(ctx.state, client.connection, {order.order_id: rx_id})
        return record, order

    async def _capture(self, rx_id: str, capture_id: str, notified: ScanNotified, client: IteroClient,
                       ctx: WorkContext) -> None:
        """A screen capture taken after the scan: stored once as a `screen_captures` artifact of the order."""
        _, order = await self._fetch_order(rx_id, notified, client, ctx)
        url = client.capture_url(order.order_id, capture_id)
        name = f"{order.order_id}-capture-{safe_component(capture_id)}.jpg"
        ref = ArtifactRef(kind="screen_captures", vendor_ref=f"SCREEN_CAPTURE/{capture_id}", name=name,
                          url_host=host_of(url))

        job = ArtifactJob(ref=ref, file_name=name, media_type="image/jpeg",
                          fetch=lambda relative: _download(client, url, relative, ctx), verify=_is_jpeg,
                          source_host=ref.url_host or "")
        await store_artifacts(order, rx_id, [job], ctx, completes=False)  # after the version completed

    async def _order(self, rx_id: str, notified: ScanNotified, client: IteroClient, ctx: WorkContext) -> None:
        record, order = await self._fetch_order(rx_id, notified, client, ctx)
        links = {ref.vendor_ref: client.asset_url(order.order_id, ref.vendor_ref,
                                                  returned_link(record, ref.vendor_ref))
                 for ref in order.artifacts}

        def job(asset: str) -> ArtifactJob:
            ref = next(r for r in order.artifacts if r.vendor_ref == asset)

            async def fetch(relative: str) -> StoredFile | None:
                try:
                    return await _download(client, links[asset], relative, ctx)
                except (LinkExpired, Unauthorized) as exc:
                    # A returned link may be signed and expire: ask the order for a fresh one. A 401
                    # that a fresh token did not cure counts as an expired link only if the link changed.
                    fresh: dict[str, Any] = await client.get_order(rx_id)
                    renewed = client.asset_url(order.order_id, asset, returned_link(fresh, asset))
                    if isinstance(exc, Unauthorized) and renewed == links[asset]:
                        # The order answered with the same token: the pairing stands, this link does not.
                        raise PermanentError(f"{asset} download refused (401); the order answers") from exc
                    links[asset] = renewed
                    raise LinkExpired(f"{asset} link refused; renewed") from exc

            return ArtifactJob(ref=ref, file_name=ref.name or f"{asset}.zip", media_type="application/zip",
                               fetch=fetch, verify=_is_zip, source_host=ref.url_host or "")

        await store_artifacts(order, rx_id, [job(a) for a in links], ctx)

    async def close(self) -> None:
        return None
