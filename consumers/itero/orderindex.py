"""OrderId → Rx GUID of one connection, remembered by the worker and the poller: Get List of Screen
Captures names orders by OrderId only, while events and fetches go by Rx id (itero-dpms-api.txt)."""

from __future__ import annotations

from pathlib import Path

from consumers.storage import safe_component
from schemas.files import write_private_text
from schemas.settings import IteroConnection


def _folder(state_dir: Path, connection: IteroConnection) -> Path:
    return state_dir / "orders" / f"{connection.vendor}-{safe_component(connection.id)}"


def remember(state_dir: Path, connection: IteroConnection, order_id: str, rx_id: str) -> None:
    path = _folder(state_dir, connection) / safe_component(order_id)
    try:
        if path.read_text() == rx_id:
            return
    except FileNotFoundError:
        pass
    write_private_text(path, rx_id)


def recall(state_dir: Path, connection: IteroConnection, order_id: str) -> str | None:
    try:
        return (_folder(state_dir, connection) / safe_component(order_id)).read_text().strip() or None
    except FileNotFoundError:
        return None
