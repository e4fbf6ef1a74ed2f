"""OAuth2 grants a connection holds, as files shared by `scanbridge connect`, the receiver's redirect
route and the workers (meditlink-openapi.txt §1.2 Get Token, §1.4 Refresh Token, FAQ): tokens and
pending `state` values, written atomically with 0600 permissions under `state_dir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas.files import make_dirs, open_private

STATE_TTL_S = 900.0  # an authorize URL is good for 15 minutes


class TokenRecord(BaseModel):
    """What the token endpoint gave, with absolute expiries (epoch seconds) and the group uuid."""

    access_token: str
    refresh_token: str
    expires_at: float
    refresh_token_exp: float | None = None
    scope: str | None = None
    group_uuid: str | None = None
    obtained_at: float
    needs_reauthorization: bool = False
    reported_refresh_exp: float | None = None  # the expiry already reported as nearing

    @classmethod
    def from_token_response(cls, token: dict[str, Any], *, refresh_ttl_s: float = 7 * 86400,
                            previous: TokenRecord | None = None) -> TokenRecord:
        """Build from a token answer; refresh_token_exp missing → obtained + 7 d (FAQ)."""
        now = time.time()
        refresh = str(token.get("refresh_token") or (previous.refresh_token if previous else ""))
        if not refresh:
            raise ValueError("token answer without a refresh token")
        exp = token.get("refresh_token_exp")
        if exp is None:
            kept = previous is not None and previous.refresh_token == refresh
            exp = previous.refresh_token_exp if kept and previous else now + refresh_ttl_s
        expires_at = token.get("expires_at") or now + float(token.get("expires_in") or 86400)
        return cls(access_token=str(token["access_token"]), refresh_token=refresh,
                   expires_at=float(expires_at), refresh_token_exp=float(exp) if exp is not None else None,
                   scope=token.get("scope"), group_uuid=previous.group_uuid if previous else None,
                   obtained_at=now)


def token_path(state_dir: Path, vendor: str, connection_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in connection_id)
    return state_dir / "tokens" / f"{vendor}-{safe}.json"


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


def load_tokens(path: Path) -> TokenRecord | None:
    try:
        return TokenRecord.model_validate_json(path.read_text())
    except (FileNotFoundError, ValidationError, ValueError):
        return None


def save_tokens(path: Path, record: TokenRecord) -> None:
    write_private(path, record.model_dump(mode="json"))


# -- pending authorization requests (the `state` parameter, §1.2.1 Step #1) ---------------------


def _state_file(state_dir: Path, state: str) -> Path:
    return state_dir / "oauth-states" / f"{hashlib.sha256(state.encode()).hexdigest()}.json"


def new_state(state_dir: Path, vendor: str, connection_id: str, redirect_uri: str) -> str:
    state = secrets.token_urlsafe(24)
    write_private(_state_file(state_dir, state), {"vendor": vendor, "connection": connection_id,
                                                  "redirect_uri": redirect_uri, "created_at": time.time()})
    return state


def take_state(state_dir: Path, state: str) -> dict[str, Any] | None:
    """The pending request `state` belongs to, consumed (usable once); None if unknown or stale."""
    if not state or len(state) > 200:
        return None
    path = _state_file(state_dir, state)
    try:
        pending = dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None
    path.unlink(missing_ok=True)
    if time.time() - float(pending.get("created_at", 0)) > STATE_TTL_S:
        return None
    return pending


def recent_states(state_dir: Path, vendor: str, connections: set[str], within_s: float) -> list[Path]:
    """The pending requests of `connections` started in the last `within_s` seconds (for a redirect
    that came back without its `state`: the caller accepts exactly one)."""
    folder = state_dir / "oauth-states"
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            pending = dict(json.loads(path.read_text()))
        except (FileNotFoundError, ValueError):
            continue
        age = time.time() - float(pending.get("created_at", 0))
        ours = pending.get("vendor") == vendor and pending.get("connection") in connections
        if ours and 0 <= age <= within_s:
            found.append(path)
    return found


def take_state_file(path: Path) -> dict[str, Any] | None:
    """Consume one pending request by its file; None if another redirect took it first."""
    try:
        pending = dict(json.loads(path.read_text()))
        path.unlink()
    except (FileNotFoundError, ValueError):
        return None
    return pending
