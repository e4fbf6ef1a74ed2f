"""Rows to values and back: JSON text, sealed JSON; a row that cannot be read names its connection."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import InvalidToken

from state.errors import CorruptState
from state.seal import Sealer


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str, what: str, owner: object) -> Any:
    """`text` as JSON; CorruptState naming `what` and its connection (`owner`) when it is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptState(f"{what} of connection {owner} is unreadable (not JSON)") from exc


def seal(sealer: Sealer, value: Any) -> str:
    return sealer.seal(dumps(value).encode())


def unseal(sealer: Sealer, token: str, what: str, owner: object) -> Any:
    try:
        plain = sealer.open(token)
    except (InvalidToken, TypeError, ValueError) as exc:
        raise CorruptState(
            f"{what} of connection {owner} cannot be decrypted with the configured keys "
            "(a key was dropped before `reseal`, or the row was altered)"
        ) from exc
    return loads(plain.decode(), what, owner)
