"""Tell operators a Medit Link connection must be authorized again, before its refresh token lapses
and when it was refused (meditlink-openapi.txt FAQ: "The refresh_token expiration is not notified via
the API response … Calculate the expiration date … and use the value for re-authorization")."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from bus.base import Bus
from consumers.meditlink.oauth import VENDOR, MeditTokens, ReauthorizationRequired
from schemas import ids
from schemas.envelope import Envelope
from schemas.events import ReauthorizationNeeded
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED, Topics

log = logging.getLogger(__name__)

Reason = Literal["refresh_token_expiring", "refresh_token_refused"]


async def report(bus: Bus, topics: Topics, tokens: MeditTokens, reason: Reason,
                 expires_at: float | None) -> Envelope:
    """Publish `connection.reauthorization_needed`; the id repeats for the same grant and reason."""
    connection = tokens.connection.id
    try:
        account = tokens.record().group_uuid
    except ReauthorizationRequired:  # no record at all still deserves the report
        account = None
    data = ReauthorizationNeeded(
        vendor=VENDOR, account=account, connection=connection, reason=reason,
        refresh_token_expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
        detected_at=datetime.now(UTC),
        how=f"scanbridge connect meditlink --connection {connection} (or --password-grant)",
    )
    label = account or connection
    version = f"{reason}/{int(expires_at) if expires_at else 'unknown'}"
    envelope = Envelope(
        id=ids.event_id(CONNECTION_REAUTHORIZATION_NEEDED, VENDOR, label, connection, version),
        source=ids.source(VENDOR, label), type=CONNECTION_REAUTHORIZATION_NEEDED, subject=connection,
        partitionkey=ids.partition_key(VENDOR, label, connection), data=data.model_dump(mode="json"),
    )
    await bus.publish(topics.for_type(CONNECTION_REAUTHORIZATION_NEEDED), envelope)
    expires = data.refresh_token_expires_at.isoformat() if data.refresh_token_expires_at else None
    log.warning("medit link connection needs re-authorization",
                extra={"connection": connection, "reason": reason, "expires": expires})
    return envelope


async def report_if_expiring(bus: Bus, topics: Topics, tokens: MeditTokens) -> bool:
    """Report a refresh token nearing its expiry once per grant; True if reported now."""
    exp = tokens.expiry_to_report()
    if exp is None:
        return False
    await report(bus, topics, tokens, "refresh_token_expiring", exp)
    tokens.update(reported_refresh_exp=exp)
    return True


async def report_refused(bus: Bus, topics: Topics, tokens: MeditTokens) -> None:
    """Report a refused grant (once per refresh token: the event id repeats otherwise)."""
    try:
        exp = tokens.record().refresh_token_exp
    except ReauthorizationRequired:
        exp = None
    await report(bus, topics, tokens, "refresh_token_refused", exp)
