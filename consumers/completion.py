"""`order.completed`: once every artifact of an order version is stored or failed, one event listing them
(EVENTS.md "order.completed"), published after the artifacts' own events on the same key, so a consumer of
the artifacts topic reads it last. A marker per version makes it once: a redelivery, a `dlq retry` that
stores what had failed, or a screen capture taken later announce no second completion; its intent makes
it once on the topic even when the marker could not be written (consumers.announced).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consumers import announced
from consumers.context import WorkContext
from schemas import ids
from schemas.events import ArtifactFailed, ArtifactKind, ArtifactOutcome, Order, OrderCompleted, OrderRef


def stored(marker: dict[str, Any], kind: ArtifactKind, file_name: str, artifact_id: str,
           vendor_ref: str) -> ArtifactOutcome:
    """The outcome of an artifact stored now or earlier (`marker`: the `artifact.stored` data recorded)."""
    return ArtifactOutcome(kind=kind, artifact_id=artifact_id, outcome="stored", vendor_ref=vendor_ref,
                           file_name=file_name, size=marker.get("size"), sha256=marker.get("sha256"),
                           storage_uri=marker.get("storage_uri"))


def failed(failure: ArtifactFailed, file_name: str, artifact_id: str) -> ArtifactOutcome:
    kind: ArtifactKind = failure.kind or "attachment"
    return ArtifactOutcome(kind=kind, artifact_id=artifact_id, outcome="failed",
                           vendor_ref=failure.vendor_ref, file_name=file_name, reason=failure.reason)


def artifact_id(order: Order, subject: str, kind: str, file_name: str) -> str:
    return ids.artifact_id(order.vendor, order.account, subject, order.version, kind, file_name)


async def announce_completed(order: Order, subject: str, outcomes: list[ArtifactOutcome],
                             ctx: WorkContext) -> bool:
    """Publish `order.completed` for this version unless it was; True when published now."""
    marker, intent = await announced.lookup(ctx.state, order, subject, announced.COMPLETED)
    if marker is not None:
        return False
    if intent is not None and await announced.recover(ctx.state, ctx.publisher.bus, order, subject,
                                                      announced.COMPLETED, intent,
                                                      announced.completed_marker_of):
        return False  # an earlier attempt sent it and left no marker
    completed = OrderCompleted(
        order=OrderRef(vendor=order.vendor, account=order.account, order_id=order.order_id,
                       version=order.version),
        artifacts=outcomes, stored=sum(o.outcome == "stored" for o in outcomes),
        failed=sum(o.outcome == "failed" for o in outcomes), completed_at=datetime.now(UTC),
    )
    intending = announced.intending(ctx.state, order, subject, announced.COMPLETED)
    event = await ctx.publisher.order_completed(completed, subject, intending)
    await announced.record(ctx.state, order, subject, announced.COMPLETED,
                           {"event_id": event.id, "at": completed.completed_at.isoformat()})
    return True
