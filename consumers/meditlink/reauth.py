"""Tell operators a Medit Link connection must be authorized (again): before its refresh token lapses,
when it was refused, and when it was configured but never connected (meditlink-openapi.txt FAQ: "The
refresh_token expiration is not notified via the API response … Calculate the expiration date … and use
the value for re-authorization"; "You will get the 'Invalid refresh token' … when it fails to refresh").

Each state is reported once per change, however many poll rounds and events meet it: the first process
to create the state's claim file (`O_EXCL`, under `state_dir/reauth/`) publishes; a round that works
again clears the claims, so the next failure is a new change and reported again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bus.base import Bus
from consumers.meditlink.oauth import VENDOR, MeditTokens, ReauthorizationRequired
from consumers.storage import safe_component
from schemas.credentials import TokenRecord
from schemas.envelope import Envelope
from schemas.eventfactory import vendor_event
from schemas.events import ReauthorizationNeeded
from schemas.files import make_dirs
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED, Topics

log = logging.getLogger(__name__)

Reason = Literal["refresh_token_expiring", "refresh_token_refused", "not_connected"]


def _claims(state_dir: Path, tokens: MeditTokens) -> Path:
    return state_dir / "reauth" / f"{VENDOR}-{safe_component(tokens.connection.id)}"


def _claim(folder: Path, key: str) -> bool:
    """True for the one caller that creates `key` (atomic across tasks and processes)."""
    make_dirs(folder)  # 0700, parents too
    try:
        os.close(os.open(folder / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def clear_reported(state_dir: Path, tokens: MeditTokens) -> None:
    """The connection works again: a later refusal or disconnection is a new change to report."""
    folder = _claims(state_dir, tokens)
    if folder.is_dir():
        for claim in folder.iterdir():
            claim.unlink(missing_ok=True)


async def report(bus: Bus, topics: Topics, tokens: MeditTokens, reason: Reason,
                 expires_at: float | None, *, change: str = "") -> Envelope:
    """Publish `connection.reauthorization_needed`; the id repeats for the same grant, reason and change."""
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
    version = f"{reason}/{int(expires_at) if expires_at else 'unknown'}/{change}"
    envelope = vendor_event(CONNECTION_REAUTHORIZATION_NEEDED, vendor=VENDOR, account=label,
                            subject=connection, version=version, data=data.model_dump(mode="json"))
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


def _state(tokens: MeditTokens) -> tuple[Reason, TokenRecord | None]:
    try:
        return "refresh_token_refused", tokens.record()
    except ReauthorizationRequired:  # no token file: configured, never connected (or disconnected)
        return "not_connected", None


async def report_unusable(bus: Bus, topics: Topics, tokens: MeditTokens, state_dir: Path) -> bool:
    """Report a connection without a usable grant — never connected, or its refresh token refused —
    once per change of state; True if this call published."""
    reason, record = _state(tokens)
    grant = hashlib.sha256(record.refresh_token.encode()).hexdigest()[:16] if record else "none"
    key = f"{reason}-{grant}"
    folder = _claims(state_dir, tokens)
    if not _claim(folder, key):
        return False
    try:
        await report(bus, topics, tokens, reason, record.refresh_token_exp if record else None,
                     change=f"{grant}/{int(time.time())}")
    except BaseException:
        (folder / key).unlink(missing_ok=True)  # not published: the next caller reports it
        raise
    return True
