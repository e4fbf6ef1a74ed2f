"""iTero / Align worker handler: order by Rx id → `order.updated` → IDE, IMAGE_GALLERY and
SCREEN_CAPTURE zips stored (itero-dpms-api.txt Get Order by RX ID, Download Scan; Align §3.6–3.9)."""

from __future__ import annotations

import zipfile
from typing import Any

from consumers.context import WorkContext
from consumers.errors import ArtifactRejected, LinkExpired, PermanentError
from consumers.itero.client import IteroClient
from consumers.itero.normalize import normalize, returned_link
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.privacy import apply_policy
from consumers.retry import retrying
from consumers.storage import StoredFile, safe_component
from consumers.tokens import Tokens, TokenStore
from schemas.events import ScanNotified, VendorChecksum
from schemas.settings import IteroConnection, Settings


def _is_zip(stored: StoredFile) -> VendorChecksum | None:
    if not zipfile.is_zipfile(stored.path):
        raise ArtifactRejected("downloaded asset is not a zip archive")
    return None


class IteroHandler:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connections = {c.id: c for c in settings.itero}
        self._tokens: dict[str, TokenStore] = {}

    def tokens(self, connection: IteroConnection) -> TokenStore:
        if connection.id not in self._tokens:
            self._tokens[connection.id] = TokenStore(
                self._settings.state_dir / "tokens" / f"{connection.vendor}-{safe_component(connection.id)}.json",
                Tokens(connection.access_token.get_secret_value(), connection.refresh_token.get_secret_value()),
                token_url=connection.token_url,
                client_id=connection.client_id,
                client_secret=connection.client_secret.get_secret_value() if connection.client_secret else None,
            )
        return self._tokens[connection.id]

    def client(self, connection_id: str, ctx: WorkContext) -> IteroClient:
        connection = self._connections.get(connection_id)
        if connection is None:
            raise PermanentError(f"unknown connection {connection_id!r}")
        return IteroClient(connection, ctx.http, self.tokens(connection))

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        if not notified.rx_id:
            raise PermanentError("scan.notified without an Rx id")
        client = self.client(notified.connection, ctx)
        rx_id = notified.rx_id
        policy = ctx.settings.worker.retry
        record = await retrying(lambda: client.get_order(rx_id), policy=policy, clock=ctx.clock,
                                what=f"{notified.vendor} order")
        order = normalize(record, vendor=notified.vendor, account=notified.account,
                          connection=notified.connection, resolve_link=client.asset_url)
        order = order.model_copy(update={"patient": apply_policy(order.patient, ctx.settings.privacy.patient_fields)})
        order, _ = await announce_order(order, rx_id, ctx)
        links = {ref.vendor_ref: client.asset_url(order.order_id, ref.vendor_ref,
                                                  returned_link(record, ref.vendor_ref))
                 for ref in order.artifacts}

        def job(asset: str) -> ArtifactJob:
            ref = next(r for r in order.artifacts if r.vendor_ref == asset)

            async def fetch(relative: str) -> StoredFile | None:
                try:
                    return await client.download(links[asset], ctx.store, relative,
                                                 max_bytes=ctx.settings.worker.max_artifact_bytes,
                                                 chunk_bytes=ctx.settings.worker.download_chunk_bytes)
                except LinkExpired:
                    fresh: dict[str, Any] = await client.get_order(rx_id)  # ask for fresh links
                    links[asset] = client.asset_url(order.order_id, asset, returned_link(fresh, asset))
                    raise

            return ArtifactJob(ref=ref, file_name=ref.name or f"{asset}.zip", media_type="application/zip",
                               fetch=fetch, verify=_is_zip, source_host=ref.url_host or "")

        await store_artifacts(order, rx_id, [job(a) for a in links], ctx)

    async def close(self) -> None:
        return None
