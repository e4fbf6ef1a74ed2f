"""Every console action, audited (issue 17): a row in the state store's audit log (who, what, on what,
when), a line on the `scanbridge.audit` logger, and — where the console has a bus — an
`operator.action` event on the events topic for downstream services. Details never hold secrets or
patient data."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from bus.base import Bus
from bus.errors import BusError
from schemas.envelope import Envelope
from schemas.events import OperatorAction
from schemas.topics import OPERATOR_ACTION, Topics
from state.base import AuditLog, AuditRecord

log = logging.getLogger("scanbridge.audit")
_NAMESPACE = uuid.UUID("8d3c2a51-6f0e-4b7a-9c1d-2e5f4a3b6c70")


class Auditor:
    def __init__(self, store: AuditLog, bus: Bus | None = None, topics: Topics | None = None,
                 source: str = "scanbridge/console") -> None:
        self._store = store
        self._bus = bus
        self._topic = (topics or Topics()).events
        self._source = source

    async def __call__(self, actor: str, action: str, target: str = "-",
                       detail: Mapping[str, Any] | None = None) -> AuditRecord:
        record = await self._store.record(AuditRecord(actor, action, target, dict(detail or {})))
        log.info("console: actor=%s action=%s target=%s", actor, action, target)
        if self._bus is not None:
            at = record.at.isoformat() if record.at else ""
            event = Envelope(id=str(uuid.uuid5(_NAMESPACE, f"{self._source}\x1f{record.seq}\x1f{at}")),
                             source=self._source, type=OPERATOR_ACTION, subject=target,
                             partitionkey=f"console:{actor}",
                             data=OperatorAction(actor=actor, action=action, target=target,
                                                 detail=dict(detail or {}), seq=record.seq,
                                                 at=record.at).model_dump(mode="json"))
            try:
                await self._bus.publish(self._topic, event)
            except BusError as exc:  # the store row is the record; the event is a copy for others
                log.warning("console: audit event not published (%s); the state store has it", exc)
        return record
