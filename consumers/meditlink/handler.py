"""Medit Link worker handler: order or case → `order.updated` → each wanted case file as a verified
7z (meditlink-openapi.txt §3.3.2 Get Case, §3.4.1 Get File, §3.5.2 Get Order; FAQ "except FORM").

One order, one id, one key: a notification naming a case, or only a file (the upload callback), is
resolved to its order (`resolve.py`) and published again under that order's number and partition key,
so it is handled in the order's partition, in turn with the poll of the same order, and stored once.
Only a case that belongs to no order is handled under its own uuid (as the poller announces it). The
file a callback names is stored even when its type is not in `file_types` (uploads are ATTACHED_DATA).

A pre-signed URL lives 5 minutes: one that expired (by its `dateExpired`) or answers 403 is replaced
by a fresh one right away, and the download repeated once before the retry policy takes over.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from consumers.context import WorkContext
from consumers.errors import LinkExpired, PermanentError
from consumers.meditlink.archive import Limits, check_and_extract
from consumers.meditlink.client import MeditClient
from consumers.meditlink.normalize import (
    PATIENT_KEYS,
    archive_name,
    artifact_ref,
    case_files,
    conversion_for,
    normalize,
)
from consumers.meditlink.oauth import VENDOR, ReauthorizationRequired, keeper, require_usable
from consumers.meditlink.reauth import clear_reported, report_unusable
from consumers.meditlink.resolve import Resolver
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.privacy import Privacy
from consumers.records import as_text, as_utc, ci_get
from consumers.retry import retrying
from consumers.storage import StoredFile
from schemas.eventfactory import vendor_event
from schemas.events import ArtifactRef, ScanNotified, VendorChecksum
from schemas.settings import MeditConnection, Settings
from schemas.topics import SCAN_NOTIFIED

URL_MARGIN_S = 10.0


class MeditHandler:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def client(self, connection_id: str, ctx: WorkContext) -> MeditClient:
        connection = ctx.catalog.get(VENDOR, connection_id)
        if not isinstance(connection, MeditConnection):
            raise PermanentError(f"unknown connection {connection_id!r}")
        return MeditClient(connection, ctx.http, keeper(ctx.keepers, connection), ctx.settings.worker.limits)

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        client = self.client(notified.connection, ctx)
        try:
            await require_usable(ctx.state, client.connection)
            await self._handle(notified, client, ctx)
        except ReauthorizationRequired:
            await report_unusable(ctx.publisher.bus, ctx.settings.bus.topics, ctx.state, client.connection)
            raise
        await clear_reported(ctx.state, client.connection)  # it works: a later refusal is a new change

    async def _handle(self, notified: ScanNotified, client: MeditClient, ctx: WorkContext) -> None:
        policy = ctx.settings.worker.retry
        order_record: dict[str, Any] | None = None
        if notified.order_id:
            number = notified.order_id
            order_record = await retrying(lambda: client.get_order(number), policy=policy, clock=ctx.clock,
                                          what="meditlink order")
            found = ci_get(order_record, "case")
            case: dict[str, Any] = found if isinstance(found, dict) else {}
        else:
            resolver = Resolver(client, ctx.state, policy, ctx.clock)
            known: dict[str, Any] | None = None
            case_id: str | None = notified.case_id
            if not case_id and notified.file_id:
                known = await resolver.case_of_file(notified.file_id)
                case_id = as_text(ci_get(known, "uuid"))
            if not case_id:
                raise PermanentError("scan.notified names no order number, case uuid or file uuid")
            resolved, known = await resolver.order_of_case(case_id, known)
            if resolved:
                await self._forward(notified, resolved, case_id, client, ctx)
                return
            case = known if known is not None else await resolver.case(case_id)
        connection = client.connection
        account = await client.group_uuid()
        order = normalize(order_record, case, account=account, connection=connection.id,
                          file_types=connection.file_types, skip_suffixes=connection.skip_suffixes,
                          conversion=connection.conversion, download_host=client.download_host)
        order = Privacy.of(ctx.settings.privacy).order(order, PATIENT_KEYS)
        subject = order.order_id
        order = await announce_order(order, subject, ctx, notified.inbound_id)
        if (as_text(ci_get(case, "status")) or "").upper() == "FORM":
            return  # FAQ: files can be downloaded in all statuses except FORM
        files = {str(ci_get(f, "uuid")): f for f in case_files(case)}  # keyed as normalize's vendor_ref
        refs = list(order.artifacts)
        named = notified.file_id
        if named in files and named not in {r.vendor_ref for r in refs}:
            # The file a callback names is wanted whatever its type (an upload is ATTACHED_DATA, §3.4.4).
            extra = artifact_ref(files[named], connection.skip_suffixes, client.download_host)
            refs += [extra] if extra else []
        jobs = [self._job(ref, files.get(ref.vendor_ref, {}), client, ctx) for ref in refs]
        await store_artifacts(order, subject, jobs, ctx)

    async def _forward(self, notified: ScanNotified, number: str, case_id: str, client: MeditClient,
                       ctx: WorkContext) -> None:
        """Publish the notification again under its order's number and key; that event does the work."""
        account = await client.group_uuid()
        data = notified.model_copy(update={"account": account, "order_id": number, "case_id": case_id})
        via = notified.inbound_id or notified.received_at.isoformat()
        version = f"resolved/{case_id}/{notified.file_id or ''}/{via}"
        event = vendor_event(SCAN_NOTIFIED, vendor=VENDOR, account=account, subject=number, version=version,
                             data=data.model_dump(mode="json"))
        await ctx.publisher.bus.publish(ctx.settings.bus.topics.events, event)

    def _job(self, ref: ArtifactRef, file: dict[str, Any], client: MeditClient,
             ctx: WorkContext) -> ArtifactJob:
        connection = client.connection
        conversion = conversion_for(file or {"name": ref.name}, connection.conversion)
        name = archive_name(file or {"uuid": ref.vendor_ref}, conversion)
        checked: dict[str, VendorChecksum] = {}
        link: dict[str, Any] = {}

        async def fresh_link() -> dict[str, Any]:
            meta = await client.get_file(ref.vendor_ref, conversion)
            if not isinstance(meta.get("url"), str):
                raise PermanentError("file answer without a download url")
            link.clear()
            link.update(meta)
            return meta

        def expired(meta: dict[str, Any]) -> bool:
            when = as_utc(meta.get("dateExpired"))
            return when is not None and when.timestamp() - URL_MARGIN_S <= time.time()

        async def fetch(relative: str) -> StoredFile | None:
            meta = link if link and not expired(link) else await fresh_link()
            try:
                stored = await self._download(client, meta, relative, ctx)
            except LinkExpired:  # the 5-minute URL lapsed in flight: ask for a fresh one, once
                stored = await self._download(client, await fresh_link(), relative, ctx)
            if stored is None:
                return None
            try:
                checked["sum"] = await self._verify(stored, link, connection, ctx)
            except BaseException:  # S3: the upload is aborted, no parts left behind
                await asyncio.shield(ctx.store.discard(stored))
                raise
            return stored

        return ArtifactJob(ref=ref, file_name=name, media_type="application/x-7z-compressed", fetch=fetch,
                           verify=lambda _stored: checked.get("sum"), source_host=ref.url_host or "",
                           whole_file=True)

    async def _download(self, client: MeditClient, meta: dict[str, Any], relative: str,
                        ctx: WorkContext) -> StoredFile | None:
        return await client.download(str(meta["url"]), ctx.store, relative,
                                     max_bytes=ctx.settings.worker.max_artifact_bytes,
                                     chunk_bytes=ctx.settings.worker.download_chunk_bytes)

    async def _verify(self, stored: StoredFile, meta: dict[str, Any], connection: MeditConnection,
                      ctx: WorkContext) -> VendorChecksum:
        """Items (names, sizes, MD5) checked in a thread; a mismatch deletes the file. The whole file is
        read: the job asks the store for a local copy (`Intent.whole_file`)."""
        if stored.path is None:
            raise RuntimeError("a 7z check needs the whole file: the job must set whole_file")
        items = [i for i in meta.get("items") or [] if isinstance(i, dict)]
        unpacked = stored.path.with_name(stored.path.name.removesuffix(".7z") + ".d")
        target = unpacked if connection.extract else None
        limits = Limits(connection.extract_max_bytes, connection.extract_max_members)
        try:
            digests = await asyncio.to_thread(check_and_extract, stored.path, items, limits, target)
        except PermanentError:
            stored.path.unlink(missing_ok=True)
            raise
        # Member names may carry the patient's name: "<name>:<md5>" as the privacy policy allows.
        privacy = Privacy.of(ctx.settings.privacy)
        listed = [(privacy.file_name(n), d) for n, d in sorted(digests.items())]
        return VendorChecksum(algorithm="MD5", value=" ".join(f"{n}:{d}" if n else d for n, d in listed),
                              verified=True)

    async def close(self) -> None:
        return None

