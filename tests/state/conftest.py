"""The behavioural state store suite runs once per backend: its tests take the `state_store` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from schemas.settings import StateSettings
from state.factory import make_state_store
from state.store import SqlStateStore

StoreFactory = Callable[..., SqlStateStore]


@pytest.fixture(params=["sqlite", "postgres"])
def state_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StateSettings:
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres_schema_dsn")
        return StateSettings(backend="postgres", dsn=SecretStr(dsn))
    return StateSettings(backend="sqlite", path=tmp_path / "state.sqlite3")


@pytest.fixture
def state_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def open_store(state_settings: StateSettings, state_key: str) -> AsyncIterator[StoreFactory]:
    """Open more stores on the same database (as other processes would), closed after the test."""
    opened: list[SqlStateStore] = []

    def factory(keys: list[str] | None = None) -> SqlStateStore:
        store = make_state_store(state_settings, keys=keys or [state_key])
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def state_store(open_store: StoreFactory) -> SqlStateStore:
    store = open_store()
    await store.start()
    return store
