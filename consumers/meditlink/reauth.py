"""Tell operators a Medit Link connection must be authorized (again): before its refresh token lapses,
when it was refused, and when it was configured but never connected (meditlink-openapi.txt FAQ: "The
refresh_token expiration is not notified via the API response … Calculate the expiration date … and use
the value for re-authorization"; "You will get the 'Invalid refresh token' … when it fails to refresh").

Each state is reported once per change, however many poll rounds, events, processes and hosts meet it:
the first to add the state's claim to the connection's `reported` set in the state store publishes (and
gives the claim back if it cannot); a round that works again clears the claims, so the next failure is a
new change and reported again. A nearing expiry is claimed per grant expiry in `expiry.reported`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from bus.base import Bus
from consumers.meditlink.oauth import VENDOR, expiry_to_report, key_of
from consumers.tokens import TokenKeeper
from schemas.envelope import Envelope
from schemas.eventfactory import vendor_event
from schemas.events import ReauthorizationNeeded
from schemas.settings import MeditConnection
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED, Topics
from state.base import ConnectionKey, StateStore

log = logging.getLogger(__name__)

Reason = Literal["refresh_token_expiring", "refresh_token_refused", "not_connected"]
REPORTED = "reported"  # claims of reports that a working round clears
EXPIRY_REPORTED = "expiry.reported"  # refresh-token expiries already reported as nearing


async def clear_reported(state: StateStore, connection: MeditConnection) -> None:
    """The connection works again: a later refusal or disconnection is a new change to report."""
    key = key_of(connection)
    claims = await state.sets.members(key, REPORTED)
    if claims:
        await state.sets.remove(key, REPORTED, claims)


async def report(bus: Bus, topics: Topics, connection: MeditConnection, account: str | None, reason: Reason,
                 expires_at: float | None, *, change: str = "") -> Envelope:
    """Publish `connection.reauthorization_needed`; the id repeats for the same grant, reason and change."""
    data = ReauthorizationNeeded(
        vendor=VENDOR, account=account, connection=connection.id, reason=reason,
        refresh_token_expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
        detected_at=datetime.now(UTC),
        how=f"scanbridge connect meditlink --connection {connection.id} (or --password-grant)",
    )
    label = account or connection.id
    version = f"{reason}/{int(expires_at) if expires_at else 'unknown'}/{change}"
    envelope = vendor_event(CONNECTION_REAUTHORIZATION_NEEDED, vendor=VENDOR, account=label,
                            subject=connection.id, version=version, data=data.model_dump(mode="json"))
    await bus.publish(topics.for_type(CONNECTION_REAUTHORIZATION_NEEDED), envelope)
    expires = data.refresh_token_expires_at.isoformat() if data.refresh_token_expires_at else None
    log.warning("medit link connection needs re-authorization",
                extra={"connection": connection.id, "reason": reason, "expires": expires})
    return envelope


async def _claimed(state: StateStore, key: ConnectionKey, name: str, claim: str) -> bool:
    return bool(await state.sets.add(key, name, [claim]))


async def report_if_expiring(bus: Bus, topics: Topics, state: StateStore, tokens: TokenKeeper,
                             connection: MeditConnection) -> bool:
    """Report a refresh token nearing its expiry once per grant; True if reported now."""
    current = await tokens.credentials()
    exp = expiry_to_report(current, connection)
    if exp is None:
        return False
    key, claim = key_of(connection), str(int(exp))
    if not await _claimed(state, key, EXPIRY_REPORTED, claim):
        return False
    try:
        await report(bus, topics, connection, _account(current.extra), "refresh_token_expiring", exp)
    except BaseException:
        await state.sets.remove(key, EXPIRY_REPORTED, [claim])  # not published: the next round reports it
        raise
    return True


async def report_unusable(bus: Bus, topics: Topics, state: StateStore, connection: MeditConnection) -> bool:
    """Report a connection without a usable grant — never connected, or its refresh token refused —
    once per change of state; True if this call published."""
    key = key_of(connection)
    current = await state.credentials.get(key)
    reason: Reason = "not_connected" if current is None else "refresh_token_refused"
    refresh = current.refresh_token if current else None
    grant = hashlib.sha256(refresh.encode()).hexdigest()[:16] if refresh else "none"
    claim = f"{reason}-{grant}"
    if not await _claimed(state, key, REPORTED, claim):
        return False
    exp = current.extra.get("refresh_token_exp") if current else None
    expires = float(exp) if isinstance(exp, int | float) else None
    try:
        await report(bus, topics, connection, _account(current.extra) if current else None, reason, expires,
                     change=f"{grant}/{int(time.time())}")
    except BaseException:
        await state.sets.remove(key, REPORTED, [claim])  # not published: the next caller reports it
        raise
    return True


def _account(extra: Mapping[str, object]) -> str | None:
    group = extra.get("group_uuid")
    return group if isinstance(group, str) and group else None
