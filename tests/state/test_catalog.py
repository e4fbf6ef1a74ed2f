"""The connections catalog over both backends: the TOML seeds the store, changes reach a running process
at its next reload, and a store that does not answer (or one bad row) leaves the cache as it was."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import connections
from schemas.settings import IteroConnection, MeditConnection, WebhookAuth
from state.base import Connection, ConnectionKey
from state.catalog import ConnectionCatalog
from state.store import SqlStateStore
from tests.state.conftest import StoreFactory

TOKEN = "t" * 32


def itero(id_: str, **changes: object) -> IteroConnection:
    fields: dict[str, object] = {"id": id_, "webhook": WebhookAuth(token=TOKEN), "base_url": "http://x",
                                 "token_url": "http://x/t", "access_token": "secret-a", "refresh_token": "r"}
    return IteroConnection.model_validate(fields | changes)


def medit(id_: str) -> MeditConnection:
    return MeditConnection(id=id_, webhook=WebhookAuth(token=TOKEN), client_id="c", client_secret="s")


MODELS: dict[str, type[BaseModel]] = {"itero": IteroConnection, "align": IteroConnection,
                                      "meditlink": MeditConnection}


def _vendor(connection: IteroConnection | MeditConnection) -> str:
    return connection.vendor if isinstance(connection, IteroConnection) else "meditlink"


def _parse(vendor: str, data: Mapping[str, Any]) -> BaseModel:
    return connections.parse(MODELS, vendor, data)


def catalog(store: SqlStateStore | None, *seeds: IteroConnection | MeditConnection) -> ConnectionCatalog:
    return ConnectionCatalog(None if store is None else store.connections, [(_vendor(c), c) for c in seeds],
                             parse=_parse, reveal=connections.revealed, reload_s=0.1)


async def test_the_toml_seeds_the_store_once_and_its_secrets_survive_the_round_trip(
    state_store: SqlStateStore,
) -> None:
    first = catalog(state_store, itero("c1"), medit("m1"))
    assert await first.seed() == 2
    revision = await state_store.connections.revision()
    assert await catalog(state_store, itero("c1"), medit("m1")).seed() == 0  # another process, same TOML
    assert await state_store.connections.revision() == revision
    reader = catalog(state_store)  # a process with an empty TOML still sees them
    assert await reader.load()
    loaded = reader.get("itero", "c1")
    assert loaded == itero("c1") and loaded.access_token.get_secret_value() == "secret-a"
    assert [c.id for c in reader.of(MeditConnection)] == ["m1"]


async def test_a_changed_toml_entry_updates_a_seeded_connection_but_never_one_added_at_run_time(
    state_store: SqlStateStore,
) -> None:
    await catalog(state_store, itero("c1"), itero("c2")).seed()
    changed = connections.revealed(itero("c2", company_id="9"))
    await state_store.connections.put(Connection(ConnectionKey("itero", "c2"), changed, "runtime"))
    edited = catalog(state_store, itero("c1", poll_interval_s=60.0), itero("c2", company_id="1"))
    assert await edited.seed() == 1
    reader = catalog(state_store)
    await reader.load()
    c1, c2 = reader.get("itero", "c1"), reader.get("itero", "c2")
    assert isinstance(c1, IteroConnection) and c1.poll_interval_s == 60.0
    assert isinstance(c2, IteroConnection) and c2.company_id == "9"


async def test_a_running_process_sees_additions_and_removals_at_its_next_reload(
    state_store: SqlStateStore,
) -> None:
    running = catalog(state_store, itero("c1"))
    await running.seed()
    await running.load()
    generation = running.generation
    assert not await running.refresh()  # nothing moved: one revision read, no reload
    await state_store.connections.put(Connection(ConnectionKey("align", "lab"),
                                                 connections.revealed(itero("lab", vendor="align",
                                                                            poll_interval_s=120.0))))
    assert await running.refresh() and running.generation == generation + 1
    assert [c.id for c in running.of(IteroConnection, "align")] == ["lab"]
    await state_store.connections.remove(ConnectionKey("itero", "c1"))
    assert await running.refresh()
    assert running.get("itero", "c1") is None and len(running.items()) == 1


async def test_a_store_that_does_not_answer_leaves_the_cache_and_says_so(
    open_store: StoreFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    store = open_store()
    await store.start()
    running = catalog(store, itero("c1"))
    await running.seed()
    await running.load()
    await store.close()  # down
    with caplog.at_level(logging.WARNING):
        assert not await running.refresh()
    assert running.get("itero", "c1") == itero("c1") and running.unavailable_since is not None
    assert "state store unavailable" in caplog.text and "secret-a" not in caplog.text


async def test_before_the_store_ever_answered_the_toml_connections_are_the_cache() -> None:
    offline = catalog(None, itero("c1"))
    assert offline.get("itero", "c1") == itero("c1") and not await offline.refresh()


async def test_a_stored_connection_that_no_longer_validates_is_named_and_left_out(
    state_store: SqlStateStore, caplog: pytest.LogCaptureFixture,
) -> None:
    await catalog(state_store, itero("good")).seed()
    await state_store.connections.put(Connection(ConnectionKey("itero", "broken"), {"id": "broken"}))
    await state_store.connections.put(Connection(ConnectionKey("nobody", "x"), {"id": "x"}))
    reader = catalog(state_store)
    with caplog.at_level(logging.ERROR):
        await reader.load()
    assert [k for k, _ in reader.items()] == [ConnectionKey("itero", "good")]
    assert "itero/broken" in caplog.text and "nobody/x" in caplog.text


async def test_the_connections_of_a_kind_follow_each_reload(state_store: SqlStateStore) -> None:
    running = catalog(state_store, itero("c1"))
    await running.seed()
    await running.load()
    assert [c.id for c in running.of(IteroConnection, "itero")] == ["c1"]  # now held until the cache changes
    added = Connection(ConnectionKey("itero", "a0"), connections.revealed(itero("a0")))
    await state_store.connections.put(added)
    assert [c.id for c in running.of(IteroConnection, "itero")] == ["c1"]  # not reloaded yet
    assert await running.refresh()
    assert [c.id for c in running.of(IteroConnection, "itero")] == ["a0", "c1"]
    running.of(IteroConnection, "itero").clear()  # a caller's list is its own
    assert [c.id for c in running.of(IteroConnection)] == ["a0", "c1"]
    assert [c.id for c in running.of(IteroConnection, "itero")] == ["a0", "c1"]
