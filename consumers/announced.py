"""What was announced, per order version and file (DESIGN.md §7 "artifact markers", issue 13 item 2):
markers in the state store, so the folder and S3 artifact stores behave alike and a redelivered order
announces nothing twice whichever worker or host handles it. An artifact's marker is the
`artifact.stored` data it announced, found again by `artifact_id` (the artifact route).

A marker is written after its event was acknowledged, so a crash between the two announces again
(at least once); a marker row that cannot be read raises `CorruptState` naming the order's account —
the worker dead-letters the event, it never reads as "not announced".
"""

from __future__ import annotations

import uuid
from typing import Any

from schemas.events import Order
from state.base import Marker, MarkerKey, StateStore

ORDER = ":order"  # the version's `order.updated` (a file is `kind/name`: never starts with ':')
COMPLETED = ":completed"  # the version's `order.completed`


def artifact_file(kind: str, file_name: str) -> str:
    return f"{kind}/{file_name}"


def key(order: Order, subject: str, file: str) -> MarkerKey:
    """`subject`: the id the order is filed under (the Rx id of an iTero order, say)."""
    return MarkerKey(order.vendor, order.account, subject, order.version, file)


async def get(state: StateStore, order: Order, subject: str, file: str) -> dict[str, Any] | None:
    marker = await state.markers.get(key(order, subject, file))
    return None if marker is None else dict(marker.data)


async def record(state: StateStore, order: Order, subject: str, file: str, data: dict[str, Any],
                 artifact_id: str | None = None) -> bool:
    """Record an announcement; False when one was recorded already (the earlier one stays)."""
    return await state.markers.put_if_absent(Marker(key(order, subject, file), data, artifact_id=artifact_id))


async def previous_version(state: StateStore, order: Order, subject: str) -> dict[str, Any] | None:
    """What the version of the order announced last said (its version and vendor status)."""
    marker = await state.markers.latest(order.vendor, order.account, subject, ORDER)
    return None if marker is None else dict(marker.data)


def canonical(artifact_id: str) -> str | None:
    """The id as a canonical UUID; anything else names nothing."""
    try:
        parsed = uuid.UUID(artifact_id)
    except (ValueError, AttributeError, TypeError):
        return None
    return str(parsed) if str(parsed) == artifact_id else None


async def find(state: StateStore, artifact_id: str) -> dict[str, Any] | None:
    """The `artifact.stored` data announced for `artifact_id`, if any."""
    if (canonical_id := canonical(artifact_id)) is None:
        return None
    marker = await state.markers.find(canonical_id)
    return None if marker is None else dict(marker.data)
