"""The PostgreSQL backend when its server cannot be reached: a typed, retryable error without the password."""

from __future__ import annotations

import socket

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from schemas.settings import StateSettings
from state.errors import StateUnavailable
from state.factory import make_state_store


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_server_is_state_unavailable_and_the_error_hides_the_password() -> None:
    dsn = f"postgresql://scanbridge:pw-that-stays-secret@127.0.0.1:{_closed_port()}/scanbridge"
    settings = StateSettings(backend="postgres", dsn=SecretStr(dsn), timeout_s=1.0)
    store = make_state_store(settings, keys=[Fernet.generate_key().decode()])
    with pytest.raises(StateUnavailable) as caught:
        await store.start()
    for error in (caught.value, caught.value.__cause__):  # a traceback in a log shows both
        assert "pw-that-stays-secret" not in f"{error!s} {error!r}"
    assert not await store.ready()
