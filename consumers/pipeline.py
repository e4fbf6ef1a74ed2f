"""The vendor-neutral part of handling one order: announce the version once, then fetch, verify,
store and announce each artifact once. Exactly once on the topic: markers and intents in the state store
record what was announced (consumers.announced), so a redelivery on any worker or host, or a retry after
the marker could not be written, announces nothing twice.

An artifact that cannot be fetched is announced as `artifact.failed`; once all are settled
`order.completed` lists them (consumers.completion), and if one failed the order's notification fails
with `ArtifactsFailed`, so the worker dead-letters it and `scanbridge dlq retry` fetches what is still
missing (README "worker"). A refused connection (`Unauthorized`) is not an
artifact's failure: it ends the order at once and reaches the vendor handler, which reports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from consumers import announced, completion
from consumers.artifacts.base import Intent, ObjectMeta, Placement, intending
from consumers.context import WorkContext
from consumers.errors import ArtifactsFailed, PermanentError, Unauthorized
from consumers.retry import Attempts, RetriesExhausted, retrying
from consumers.storage import StoredFile, safe_component
from schemas import ids
from schemas.events import (
    ArtifactFailed,
    ArtifactOutcome,
    ArtifactRef,
    Order,
    OrderRef,
    StoredArtifact,
    VendorChecksum,
)

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[StoredFile | None]]
Verify = Callable[[StoredFile], VendorChecksum | None]


@dataclass(frozen=True)
class ArtifactJob:
    """One artifact of an order: `fetch(relative_path)` stores it (None = nothing there, e.g. 204)."""

    ref: ArtifactRef
    file_name: str
    media_type: str
    fetch: Fetch
    verify: Verify | None = None
    source_host: str = ""
    whole_file: bool = False  # `verify` reads the whole file at `StoredFile.path`, not its head and tail


def order_folder(order: Order, subject: str) -> str:
    return "/".join(safe_component(p) for p in (order.vendor, order.account, subject))


async def announce_order(order: Order, subject: str, ctx: WorkContext,
                         inbound_id: str | None = None) -> Order:
    """Publish `order.updated` unless this version was announced; returns the order as announced (before
    the event's caps; `inbound_id`: the inbound record the change arrived with, kept as a pointer)."""
    announced_order, _ = await announced.announce_order_once(ctx.state, ctx.publisher, order, subject,
                                                             inbound_id)
    return announced_order


async def _placed(job: ArtifactJob, staged: StoredFile, meta: ObjectMeta,
                  ctx: WorkContext) -> tuple[VendorChecksum | None, Placement]:
    """Run the vendor check on the staged bytes, then commit them; bytes that fail either are
    discarded (S3: no object, no multipart upload left), never announced."""
    try:
        checksum = job.verify(staged) if job.verify is not None else None
        return checksum, await ctx.store.commit(staged, meta)
    except BaseException:
        await asyncio.shield(ctx.store.discard(staged))
        raise


async def store_artifacts(order: Order, subject: str, jobs: list[ArtifactJob], ctx: WorkContext, *,
                          completes: bool = True) -> None:
    """Fetch, verify, store and announce each job not stored yet; a failed one is announced as failed.
    With `completes` (the jobs are all the version's artifacts) `order.completed` follows the last one.
    `ArtifactsFailed` is raised after that if any failed (the caller's event is dead-lettered)."""
    folder = f"{order_folder(order, subject)}/{safe_component(order.version)}"
    ref = OrderRef(vendor=order.vendor, account=order.account, order_id=order.order_id, version=order.version)
    failures: list[ArtifactFailed] = []
    history: list[tuple[datetime, str]] = []  # the failed artifacts' attempts, for the dead letter
    outcomes: list[ArtifactOutcome] = []  # for order.completed, in the order of the jobs
    for job in jobs:
        relative = f"{folder}/{job.ref.kind}/{safe_component(job.file_name)}"
        name = safe_component(job.file_name)
        aid = completion.artifact_id(order, subject, job.ref.kind, name)
        file = announced.artifact_file(job.ref.kind, name)
        marker, intent = await announced.lookup(ctx.state, order, subject, file)
        if marker is None and intent is not None:  # an earlier attempt may have announced it: look first
            marker = await announced.recover(ctx.state, ctx.publisher.bus, order, subject, file, intent,
                                             announced.artifact_marker_of)
        if marker is not None:
            outcomes.append(completion.stored(marker, job.ref.kind, name, aid, job.ref.vendor_ref))
            continue
        attempts = Attempts()
        meta = ObjectMeta(vendor=order.vendor, account=order.account, order=order.order_id,
                          version=order.version, kind=job.ref.kind,
                          file_name=safe_component(job.file_name), media_type=job.media_type)
        try:
            with intending(Intent(meta, whole_file=job.whole_file)):  # the store's writes in the fetch
                result = await retrying(partial(job.fetch, relative),
                                        policy=ctx.settings.worker.retry, clock=ctx.clock,
                                        what=f"{order.vendor} {job.ref.kind}", attempts=attempts)
            if result is None:
                continue
            checksum, placement = await _placed(job, result, meta, ctx)
        except Unauthorized:
            raise  # the connection was refused: no other artifact of it can be fetched either
        except (PermanentError, RetriesExhausted) as exc:
            if isinstance(exc, PermanentError):
                attempts.add(exc)
            failure = ArtifactFailed(order=ref, kind=job.ref.kind, vendor_ref=job.ref.vendor_ref,
                                     reason=str(exc), attempts=len(attempts),
                                     retry_hint="re-deliver the scan.notified event (scanbridge dlq retry)")
            log.warning("artifact failed: %s %s: %s", order.vendor, job.ref.kind, type(exc).__name__)
            await ctx.publisher.artifact_failed(failure, subject)
            failures.append(failure)
            outcomes.append(completion.failed(failure, name, aid))
            history.extend(attempts.history)
            continue
        artifact = StoredArtifact(
            order=ref, kind=job.ref.kind, file_name=meta.file_name, media_type=job.media_type,
            size=placement.size, sha256=placement.sha256, vendor_checksum=checksum,
            storage_uri=placement.uri, relative_path=relative, source_host=job.source_host,
            stored_at=datetime.now(UTC),
            artifact_id=ids.artifact_id(order.vendor, order.account, subject, order.version, job.ref.kind,
                                        meta.file_name),
            bucket=placement.bucket, key=placement.key, etag=placement.etag, version_id=placement.version_id,
        )
        await ctx.publisher.artifact_stored(artifact, subject,
                                            announced.intending(ctx.state, order, subject, file))
        data = artifact.model_dump(mode="json")
        await announced.record(ctx.state, order, subject, file, data, artifact.artifact_id)
        outcomes.append(completion.stored(data, job.ref.kind, name, aid, job.ref.vendor_ref))
    if completes:
        await completion.announce_completed(order, subject, outcomes, ctx)
    if failures:
        raise ArtifactsFailed(_summary(order, failures, len(jobs)), history)


def _summary(order: Order, failures: list[ArtifactFailed], total: int) -> str:
    """The dead letter's reason: which artifacts failed and why (bounded; ids and reasons only)."""
    shown = "; ".join(f"{f.kind} {f.vendor_ref}: {f.reason}" for f in failures[:3])
    more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
    head = f"{len(failures)} of {total} artifacts of {order.vendor} order {order.order_id} failed"
    return f"{head}: {shown}{more}"[:1000]
