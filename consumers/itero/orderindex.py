"""OrderId → Rx GUID of one connection, remembered by the worker and the poller in the state store:
Get List of Screen Captures names orders by OrderId only, while events and fetches go by Rx id
(itero-dpms-api.txt)."""

from __future__ import annotations

from consumers.itero.pairing import key_of
from schemas.settings import IteroConnection
from state.base import Lease, StateStore

MAP = "order_rx"


async def remember(state: StateStore, connection: IteroConnection, pairs: dict[str, str], *,
                   fence: Lease | None = None) -> None:
    """Remember {OrderId: Rx id}; the poller fences its writes with its lease."""
    if pairs:
        await state.maps.put(key_of(connection), MAP, pairs, fence=fence)


async def recall(state: StateStore, connection: IteroConnection, order_ids: list[str]) -> dict[str, str]:
    """{OrderId: Rx id} of those of `order_ids` that were seen."""
    return await state.maps.get(key_of(connection), MAP, order_ids)
