"""receiver/links.py: the iTero webhook matches an Rx to its scan_request from memory, reloaded by age."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from receiver.links import LinkCache
from schemas.settings import StateSettings
from state.commandlog import CommandLog, CommandRecord
from state.factory import make_state_store
from state.store import SqlStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> SqlStateStore:
    opened = make_state_store(StateSettings(backend="sqlite", path=tmp_path / "state.sqlite3"),
                              keys=[Fernet.generate_key().decode()])
    await opened.start()
    yield opened  # type: ignore[misc]
    await opened.close()


def _record(command_id: str) -> CommandRecord:
    return CommandRecord(command_id=command_id, type="command.itero.scan_request", vendor="itero",
                         connection="clinic", subject="patient-x", partitionkey="itero:clinic:patient-x",
                         fingerprint="f")


async def test_webhooks_read_the_links_once_per_interval_and_see_new_links_after_it(
    store: SqlStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = CommandLog(store)
    await log.claim(_record("c-1"))
    await log.link("itero", "clinic", "rx", "rx-1", "c-1")
    reads: list[str] = []
    links = CommandLog.links

    async def counted(self: CommandLog, vendor: str, connection: str, kind: str) -> dict[str, str]:
        reads.append(connection)
        return await links(self, vendor, connection, kind)

    monkeypatch.setattr(CommandLog, "links", counted)
    clock = Clock()
    cache = LinkCache(5.0, clock)
    for n in range(20):  # notifications of Rx that no command made, and one that one did
        assert await cache.match(store, "itero", "clinic", "rx", f"other-{n}") is None
    found = await cache.match(store, "itero", "clinic", "rx", "rx-1")
    assert found is not None and found.command_id == "c-1"
    assert reads == ["clinic"]  # one read for 21 webhooks

    await log.claim(_record("c-2"))
    await log.link("itero", "clinic", "rx", "rx-2", "c-2")
    assert await cache.match(store, "itero", "clinic", "rx", "rx-2") is None  # within the interval
    clock.now = 5.0
    found = await cache.match(store, "itero", "clinic", "rx", "rx-2")
    assert found is not None and found.command_id == "c-2" and reads == ["clinic", "clinic"]


async def test_links_already_read_are_kept_while_the_store_does_not_answer(store: SqlStateStore) -> None:
    log = CommandLog(store)
    await log.claim(_record("c-1"))
    await log.link("itero", "clinic", "rx", "rx-1", "c-1")
    clock = Clock()
    cache = LinkCache(5.0, clock)
    assert await cache.match(store, "itero", "clinic", "rx", "rx-1") is not None
    await store.close()
    clock.now = 10.0
    assert await cache.match(store, "itero", "clinic", "rx", "rx-2") is None  # no error: nothing to match
    assert await cache.match(store, "itero", "clinic", "rx", "rx-1") is None  # its record cannot be read
