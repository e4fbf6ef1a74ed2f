"""The later vendor answer to a command: Medit Link's upload callback (meditlink-openapi.txt §3.4.2
`callbackUrl`, Appendix B step 3) is matched to its `upload_file` command by file uuid, and finishes it
with `command.succeeded` (or `command.failed`, when the callback reports a failed post-processing).

The callback's payload is not documented: its status is read as failed when it says so (`FAILED`,
`ERROR`, anything with `FAIL`), as succeeded otherwise. No vendor call is made here (DESIGN.md §3).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bus.base import Bus
from schemas.commands.base import CommandResult
from schemas.commands.results import result_event
from schemas.topics import Topics
from state.base import StateStore
from state.commandlog import CommandLog, CommandRecord
from state.errors import StateError, VersionConflict

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 5
KEPT = ("uuid", "caseuuid", "name", "size", "filetype", "status", "message", "dateupdated")


def processed_file(body: dict[str, Any], *, names: bool = True) -> dict[str, Any]:
    """The callback's top-level scalars that describe the processed file (keys in any case); without
    `names`, not its name (a file name may carry a patient's: `privacy.patient_fields` is not `keep`)."""
    kept: dict[str, Any] = {}
    for key, value in body.items():
        norm = str(key).lower().replace("_", "")
        if norm == "name" and not names:
            continue
        if norm in KEPT and isinstance(value, str | int | float | bool):
            kept[str(key)] = value[:300] if isinstance(value, str) else value
    return kept


def failed(status: str | None) -> bool:
    text = (status or "").upper()
    return "FAIL" in text or text == "ERROR"


async def match(state: StateStore, vendor: str, connection: str, file_id: str | None,
                kind: str = "upload") -> CommandRecord | None:
    """The command that uploaded `file_id` (or, with `kind`, made another vendor id: an iTero Rx), if one
    did (None also when the store does not answer)."""
    if not file_id:
        return None
    commands = CommandLog(state)
    try:
        command_id = await commands.linked(vendor, connection, kind, file_id)
        return await commands.get(command_id) if command_id else None
    except StateError as exc:
        log.warning("upload callback not matched to a command: state store %s", type(exc).__name__)
        return None


async def finish(bus: Bus, topics: Topics, state: StateStore, record: CommandRecord, body: dict[str, Any],
                 status: str | None, *, names: bool = True) -> None:
    """Record and publish the command's result, once: a repeated callback changes nothing."""
    if record.finished:
        return
    file = processed_file(body, names=names)
    bad = failed(status)
    result = CommandResult(
        command_id=record.command_id, command_type=record.type, vendor=record.vendor,
        connection=record.connection, subject=record.subject, succeeded=not bad,
        reason="processing_failed" if bad else None,
        message=(str(file.get("message") or "Medit's post-processing of the file failed") if bad else None),
        retryable=bad, vendor_ids={"file_uuid": str(record.progress.get("file_uuid", file.get("uuid", "")))},
        result=file, completed_at=datetime.now(UTC))
    commands = CommandLog(state)
    for _ in range(CAS_ATTEMPTS):  # the executor may be recording the upload just now
        try:
            await commands.update(record, phase="failed" if bad else "succeeded",
                                  result=result.model_dump(mode="json"))
            break
        except VersionConflict:
            current = await commands.get(record.command_id)
            if current is None or current.finished:
                return
            record = current
    else:
        log.warning("command %s kept changing; its callback did not finish it", record.command_id)
        return
    await bus.publish(topics.events, result_event(result, record.partitionkey))
