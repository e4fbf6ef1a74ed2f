"""What the connection page and the vendors' console controls (`ConsoleControls`, scanbridge/plugin.py)
share: one stored connection as its vendor's model (404 when absent, 409 when it no longer validates),
the redirect back to its page, and the catalog refresh after a change (issue 17 "Connections")."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse

from scanbridge.console import connection_forms as forms
from scanbridge.console.context import Console
from state.base import Connection, ConnectionKey


async def stored_model(console: Console, key: ConnectionKey) -> tuple[Connection, Any]:
    """The stored connection and its vendor's connection model."""
    stored = await console.store.connections.get(key)
    if stored is None:
        raise HTTPException(404, f"No connection {key} in the state store.")
    try:
        return stored, forms.parse(key.vendor, json.dumps(dict(stored.settings)))
    except forms.FormProblem as exc:
        raise HTTPException(409, f"{key} in the state store no longer validates: {exc}") from None


def back(key: ConnectionKey, note: str = "") -> RedirectResponse:
    suffix = f"?note={quote(note)}" if note else ""
    return RedirectResponse(f"/connections/{quote(key.vendor)}/{quote(key.id)}{suffix}", 303)


async def refreshed(console: Console) -> None:
    await console.shared.catalog.refresh()  # this process sees its own change at once
