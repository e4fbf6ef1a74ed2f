"""Build and publish the worker's events with deterministic ids (EVENTS.md "the rest").

A once-only event (`order.updated`, `artifact.stored`, `order.completed`) may be given `before_send`,
awaited with its topic and the finished event just before it is sent (consumers/announced.py records its
intent there).

Each announced order and each stored artifact is one INFO line: ids, stage, kind, size and digest,
never a patient field or a file name (a file may be named after the patient).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bus.base import Bus
from consumers.event_caps import cap_order
from schemas.envelope import Envelope
from schemas.eventfactory import vendor_event
from schemas.events import ArtifactFailed, Order, OrderCompleted, StoredArtifact
from schemas.settings import EventLimits
from schemas.topics import ARTIFACT_FAILED, ARTIFACT_STORED, ORDER_COMPLETED, ORDER_UPDATED, Topics

log = logging.getLogger(__name__)

BeforeSend = Callable[[str, Envelope], Awaitable[None]]  # (topic, event)


@dataclass(frozen=True)
class Publisher:
    bus: Bus
    topics: Topics
    limits: EventLimits = field(default_factory=EventLimits)

    async def _publish(self, event_type: str, vendor: str, account: str, subject: str, version: str,
                       data: dict[str, object], before_send: BeforeSend | None = None) -> Envelope:
        envelope = vendor_event(event_type, vendor=vendor, account=account, subject=subject, version=version,
                                data=data)
        if before_send is not None:
            await before_send(self.topics.for_type(event_type), envelope)
        await self.bus.publish(self.topics.for_type(event_type), envelope)
        return envelope

    async def order_updated(self, order: Order, subject: str, inbound_id: str | None = None,
                            before_send: BeforeSend | None = None) -> Envelope:
        """Publish the order within the deployment's caps (`inbound_id`: the record it arrived with)."""
        capped = cap_order(order, self.limits, inbound_id)
        envelope = await self._publish(ORDER_UPDATED, order.vendor, order.account, subject, order.version,
                                       capped.model_dump(mode="json"), before_send)
        log.info("order announced: %s %s order %s, %s, %d artifacts", order.vendor, order.account,
                 order.order_id, order.stage, len(order.artifacts),
                 extra={"announced": envelope.id, "order_id": order.order_id, "stage": str(order.stage),
                        "order_version": order.version})
        return envelope

    async def artifact_stored(self, artifact: StoredArtifact, subject: str,
                              before_send: BeforeSend | None = None) -> Envelope:
        ref = artifact.order
        version = f"{ref.version}/{artifact.kind}/{artifact.file_name}"
        envelope = await self._publish(ARTIFACT_STORED, ref.vendor, ref.account, subject, version,
                                       artifact.model_dump(mode="json"), before_send)
        log.info("artifact stored: %s %s, %d bytes, sha256 %s…", ref.vendor, artifact.kind, artifact.size,
                 artifact.sha256[:12], extra={"announced": envelope.id, "kind": str(artifact.kind),
                                              "size": artifact.size})
        return envelope

    async def artifact_failed(self, failure: ArtifactFailed, subject: str) -> Envelope:
        ref = failure.order
        version = f"{ref.version}/{failure.kind}/{failure.vendor_ref}/{failure.attempts}"
        return await self._publish(ARTIFACT_FAILED, ref.vendor, ref.account, subject, version,
                                   failure.model_dump(mode="json"))

    async def order_completed(self, completed: OrderCompleted, subject: str,
                              before_send: BeforeSend | None = None) -> Envelope:
        """Once per order version (the id is fixed by it), on the artifacts topic after its artifacts."""
        ref = completed.order
        return await self._publish(ORDER_COMPLETED, ref.vendor, ref.account, subject, ref.version or "",
                                   completed.model_dump(mode="json"), before_send)
