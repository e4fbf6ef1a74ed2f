"""What a Medit Link token answer means, shared by `scanbridge connect`, the receiver's redirect route and
the workers, which all write it to the state store (meditlink-openapi.txt §1.2 Get Token, §1.4 Refresh
Token, FAQ "How to handle token expiration": access 24 h, refresh 7 d, `refresh_token_exp` in epoch
seconds, "Calculate the expiration date from the first access_token response"); and private files
written atomically with 0600 permissions.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.files import make_dirs, open_private

REFRESH_TTL_S = 7 * 86400.0  # FAQ: a refresh token lives 7 days unless the answer says otherwise


@dataclass(frozen=True)
class Grant:
    """A token answer with absolute expiries; `extra` keeps `refresh_token_exp` (epoch seconds), `scope`,
    `obtained_at` and what the previous grant carried (the group uuid)."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


def medit_grant(token: Mapping[str, Any], previous_refresh: str | None = None,
                previous_extra: Mapping[str, Any] | None = None) -> Grant:
    """refresh_token_exp missing → obtained + 7 d (FAQ), or the previous expiry when the refresh token was
    handed back unchanged (no rotation). ValueError for an answer without tokens."""
    now = time.time()
    refresh = str(token.get("refresh_token") or previous_refresh or "")
    if not refresh or not token.get("access_token"):
        raise ValueError("token answer without an access and a refresh token")
    kept = dict(previous_extra or {})
    exp = token.get("refresh_token_exp")
    if exp is None:
        exp = kept.get("refresh_token_exp") if previous_refresh == refresh else now + REFRESH_TTL_S
    expires_at = float(token.get("expires_at") or now + float(token.get("expires_in") or 86400))
    extra = {**kept, "refresh_token_exp": float(exp) if exp is not None else None,
             "scope": token.get("scope"), "obtained_at": now}
    return Grant(str(token["access_token"]), refresh, datetime.fromtimestamp(expires_at, UTC), extra)


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Atomic write readable by the owner only (0600), fsynced."""
    make_dirs(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = open_private(temp)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)  # random names: a failed write must not leave one behind
        raise
