"""The poller runtime: one instance polls a connection at a time (its lease), instances split the
connections, others take over when one stops or dies, a takeover waits out the interval since the last
round anyone started, a round whose lease was taken over writes nothing, a corrupt cursor is reported with
its connection, and an instance that cannot renew stops polling, says so and resumes — on both state store
backends (several stores on one database stand for several hosts). Time is a ManualClock; only the
store's lease clock is real (TTL 1 s), waited on with a bound, never asserted on."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from consumers.clock import ManualClock
from consumers.health import HealthBook
from consumers.polling import MEMBERS, POLL_ENTRY, PollerRuntime
from scanbridge.opsserver import READY, Readiness, create_ops_app
from schemas.settings import StateSettings
from state.base import ConnectionKey, Lease
from state.errors import StaleLease
from state.factory import make_state_store
from state.store import SqlStateStore
from tests.postgres_server import SCRIPT
from tests.servers import serve
from tests.tcpgate import free_port

C1 = ConnectionKey("itero", "c1")
TTL_S = 1.0
INTERVAL_S = 60.0
EPOCH = 1_800_000_000.0


class Recording:
    """A Poller that records its rounds, may hold a round open until released, reads its cursor and
    writes it fenced."""

    def __init__(self, key: ConnectionKey, state: SqlStateStore, log: list[tuple[str, int]],
                 who: str) -> None:
        self.key, self.state, self.log, self.who = key, state, log, who
        self.interval_s = INTERVAL_S
        self.host = "vendor.example"
        self.hold: asyncio.Event | None = None
        self.closed = False
        self.writes_refused = 0

    async def poll(self, lease: Lease | None) -> str | None:
        assert lease is not None
        self.log.append((self.who, lease.token))
        await self.state.entries.get(self.key, "cursor")  # an unreadable cursor raises, never reads as {}
        if self.hold is not None:
            await self.hold.wait()
        try:
            await self.state.entries.put(self.key, "cursor", {"by": self.who}, fence=lease)
        except StaleLease:
            self.writes_refused += 1
            raise
        return None

    async def close(self) -> None:
        self.closed = True


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> StateSettings:
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_schema_dsn")
        return StateSettings(backend="postgres", dsn=SecretStr(dsn))
    return StateSettings(path=tmp_path / "state.sqlite3")


@pytest.fixture
async def hosts(settings: StateSettings) -> AsyncIterator[Callable[[], Awaitable[SqlStateStore]]]:
    """`await hosts()` opens one more store on the same database, as another host would."""
    key = Fernet.generate_key().decode()
    opened: list[SqlStateStore] = []

    async def open_one() -> SqlStateStore:
        store = make_state_store(settings, keys=[key])
        opened.append(store)
        await store.start()
        return store

    yield open_one
    for store in opened:
        await store.close()


Hosts = Callable[[], Awaitable[SqlStateStore]]


def runtime(store: SqlStateStore, log: list[tuple[str, int]], who: str, clock: ManualClock,
            connections: list[tuple[ConnectionKey, object]] | None = None,
            pollers: dict[ConnectionKey, Recording] | None = None) -> PollerRuntime:
    wanted = connections if connections is not None else [(C1, "settings-1")]
    built = pollers if pollers is not None else {}

    def build(key: ConnectionKey, connection: object) -> Recording:
        built[key] = Recording(key, store, log, who)
        return built[key]

    return PollerRuntime(store, lambda: wanted, lambda: len(wanted), build, clock=clock, ttl_s=TTL_S,
                         owner=who, wall=lambda: EPOCH + clock.now(), health=HealthBook(store.connections))


async def settle(*runtimes: PollerRuntime) -> None:
    """Let the rounds the last tick started run to their end."""
    for rt in runtimes:
        for slot in rt.slots.values():
            if slot.task is not None:
                await asyncio.wait({slot.task})


async def until(condition: Callable[[], Awaitable[bool]], rounds: int = 200) -> None:
    """Run `condition` (which may tick runtimes) until it holds; a bound against hangs, not a timing."""
    for _ in range(rounds):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


async def test_one_instance_polls_a_connection_and_the_other_takes_over_when_it_stops(hosts: Hosts) -> None:
    log: list[tuple[str, int]] = []
    a_store, b_store = await hosts(), await hosts()
    clock = ManualClock()
    a, b = runtime(a_store, log, "a", clock), runtime(b_store, log, "b", clock)
    for _ in range(3):
        await a.tick()
        await b.tick()
        await settle(a, b)
        await clock.advance(INTERVAL_S)
    assert [who for who, _ in log] == ["a", "a", "a"]  # b never polled while a held the lease
    await a.close()  # a stops: its lease is given back at once
    await b.tick()
    await settle(b)
    assert [who for who, _ in log][-1] == "b" and log[-1][1] > log[0][1]  # a higher fencing token
    await b.close()


async def test_a_new_holder_waits_out_the_interval_since_the_last_round_anyone_started(hosts: Hosts) -> None:
    log: list[tuple[str, int]] = []
    a_store, b_store = await hosts(), await hosts()
    clock = ManualClock()
    a = runtime(a_store, log, "a", clock)
    await a.tick()
    await settle(a)
    await clock.advance(INTERVAL_S / 2)
    await a.close()
    b = runtime(b_store, log, "b", clock)
    await b.tick()  # takes the lease, reads when a started its round: not due for another half interval
    await settle(b)
    assert [who for who, _ in log] == ["a"]
    assert b.slots[C1].lease is not None and b.slots[C1].poll_at == clock.now() + INTERVAL_S / 2
    entry = await b_store.entries.get(C1, POLL_ENTRY)
    assert entry is not None and entry.value["owner"] == "a"
    await clock.advance(INTERVAL_S / 2)
    await b.tick()
    await settle(b)
    assert [who for who, _ in log] == ["a", "b"]
    await b.close()


async def test_two_instances_split_the_connections_and_the_survivor_takes_the_dead_one_s_after_the_ttl(
    hosts: Hosts,
) -> None:
    log: list[tuple[str, int]] = []
    a_store, b_store = await hosts(), await hosts()
    clock = ManualClock()
    keys = [ConnectionKey("itero", f"c{i}") for i in range(4)]
    wanted: list[tuple[ConnectionKey, object]] = [(k, "settings") for k in keys]
    a = runtime(a_store, log, "a", clock, connections=wanted)
    await a.tick()  # alone: takes every connection
    assert a.status.held == 4
    b = runtime(b_store, log, "b", clock, connections=wanted)

    async def split() -> bool:
        await clock.advance(b.try_every_s)
        await a.tick()
        await b.tick()
        return a.status.held == 2 and b.status.held == 2

    await until(split)  # a gives leases back one at a time, b takes them
    held = {k: await a_store.leases.holder(k) for k in keys}
    assert sorted(lease.owner for lease in held.values() if lease) == ["a", "a", "b", "b"]
    await settle(a, b)
    before = len(log)
    await clock.advance(INTERVAL_S)  # b's connections were polled by a a moment ago: b waits the interval
    await a.tick()
    await b.tick()
    await settle(a, b)
    assert sorted(who for who, _ in log[before:]) == ["a", "a", "b", "b"]

    # a dies: it stops ticking and never gives its leases back; they lapse on the store's clock
    for slot in a.slots.values():
        if slot.task is not None:
            slot.task.cancel()

    async def taken_over() -> bool:
        await clock.advance(b.try_every_s)
        await b.tick()
        return [lease.owner if lease else None for lease in [await b_store.leases.holder(k) for k in keys]] \
            == ["b"] * 4

    await until(taken_over)
    assert b.status.members == 1 and b.status.held == 4
    assert [lease.owner for lease in await b_store.leases.holders(MEMBERS)] == ["b"]
    await b.close()


async def test_a_dead_instance_s_late_round_writes_nothing(hosts: Hosts) -> None:
    log: list[tuple[str, int]] = []
    a_store, b_store = await hosts(), await hosts()
    clock = ManualClock()
    a_pollers: dict[ConnectionKey, Recording] = {}
    a = runtime(a_store, log, "a", clock, pollers=a_pollers)
    await a._follow_catalog()
    a_pollers[C1].hold = asyncio.Event()  # a's round hangs (a frozen host)
    await a.tick()
    b = runtime(b_store, log, "b", clock)
    await b.tick()
    assert b.slots[C1].lease is None  # a holds it

    async def b_polled() -> bool:  # a never renews: its lease lapses on the store's clock
        await clock.advance(INTERVAL_S)
        await b.tick()
        await settle(b)
        return [who for who, _ in log] == ["a", "b"]

    await until(b_polled)
    a_pollers[C1].hold.set()  # a's late round tries to write: refused, and a stops polling
    await settle(a)
    assert a_pollers[C1].writes_refused == 1 and a.slots[C1].lease is None
    cursor = await b_store.entries.get(C1, "cursor")
    assert cursor is not None and cursor.value == {"by": "b"}
    await a.close()
    await b.close()


async def test_a_corrupt_cursor_is_reported_with_its_connection_and_not_read_as_empty(
    hosts: Hosts, caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, int]] = []
    store = await hosts()
    await store.entries.put(C1, "cursor", {"by": "earlier"})
    async with store.db.transaction() as tx:  # the row is damaged outside scanbridge
        await tx.execute("UPDATE entries SET value = ? WHERE vendor = ? AND conn = ? AND name = ?",
                         "{not json", C1.vendor, C1.id, "cursor")
    clock = ManualClock()
    a = runtime(store, log, "a", clock)
    with caplog.at_level(logging.ERROR, logger="consumers.polling"):
        await a.tick()
        await settle(a)
    assert a.counters["corrupt_state"] == 1 and a.counters["polls"] == 0
    assert any("itero/c1" in r.getMessage() and "unreadable" in r.getMessage() for r in caplog.records)
    health = await store.connections.health(C1)
    assert health.status == "failing" and "unreadable" in (health.last_error or "")
    async with store.db.transaction(write=False) as tx:  # nothing overwrote it with a fresh cursor
        rows = await tx.fetch("SELECT value FROM entries WHERE vendor = ? AND conn = ? AND name = ?",
                              C1.vendor, C1.id, "cursor")
    assert rows[0][0] == "{not json"
    await a.close()


async def test_an_instance_that_cannot_renew_stops_polling_says_so_and_resumes(hosts: Hosts) -> None:
    log: list[tuple[str, int]] = []
    store = await hosts()
    clock = ManualClock()
    a = runtime(store, log, "a", clock)
    await a.tick()
    await settle(a)
    assert a.status.describe() is None and a.status.held == 1
    await store.close()  # the store goes away
    await clock.advance(TTL_S)  # past the renewal, and the lease may have lapsed
    await a.tick()
    assert a.slots[C1].lease is None and a.status.held == 0
    described = a.status.describe() or ""
    assert "state store unreachable" in described and "itero/c1" in described
    await clock.advance(INTERVAL_S)
    await a.tick()
    assert [who for who, _ in log] == ["a"]  # no round without a lease
    await store.start()  # it answers again

    async def polling_again() -> bool:
        await clock.advance(a.try_every_s)
        await a.tick()
        await settle(a)
        return len(log) == 2

    await until(polling_again)
    assert a.status.describe() is None and a.status.held == 1
    await a.close()


async def test_connections_added_and_removed_in_the_catalog_get_and_lose_their_poller(hosts: Hosts) -> None:
    log: list[tuple[str, int]] = []
    store = await hosts()
    clock = ManualClock()
    wanted: list[tuple[ConnectionKey, object]] = [(C1, "settings-1")]
    pollers: dict[ConnectionKey, Recording] = {}
    a = runtime(store, log, "a", clock, connections=wanted, pollers=pollers)
    generation = [0]
    a._generation = lambda: generation[0]
    await a.tick()
    c2 = ConnectionKey("meditlink", "c2")
    wanted.append((c2, "settings-2"))
    wanted.remove((C1, "settings-1"))
    generation[0] += 1
    await clock.advance(a.try_every_s)
    await a.tick()
    await settle(a)
    assert set(a.slots) == {c2} and pollers[C1].closed
    assert await store.leases.holder(C1) is None and (await store.leases.holder(c2)) is not None
    await a.close()


def _postgres(*args: str) -> str:
    """deploy/postgres/postgres.sh with `args`; the last line it printed (start: the DSN)."""
    done = subprocess.run([str(SCRIPT), *args], check=True, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PG_FSYNC": "off"})
    return (done.stdout.strip().splitlines() or [""])[-1]


async def test_a_stopped_postgres_server_stops_polling_shows_on_readyz_and_polling_resumes() -> None:
    """A real PostgreSQL server of the test's own, stopped and started again on the same port."""
    run_dir = Path(tempfile.mkdtemp(prefix="scanbridge-pg-"))  # not under /tmp/pytest-of-root: the server's
    port = free_port()                                          # own user must reach it
    log: list[tuple[str, int]] = []
    try:
        dsn = await asyncio.to_thread(_postgres, "start", str(run_dir), str(port))
        settings = StateSettings(backend="postgres", dsn=SecretStr(dsn), timeout_s=1.0)
        store = make_state_store(settings, keys=[Fernet.generate_key().decode()])
        await store.start()
        clock = ManualClock()
        a = runtime(store, log, "a", clock)
        readiness = Readiness(status=READY, checks=[a.status.describe])
        async with serve(create_ops_app(readiness)) as url, \
                httpx.AsyncClient(base_url=url, timeout=10) as http:
            await a.tick()
            await settle(a)
            assert (await http.get("/readyz")).status_code == 200 and len(log) == 1
            await asyncio.to_thread(_postgres, "stop", str(run_dir))

            async def stopped() -> bool:
                await clock.advance(a.try_every_s)
                await a.tick()
                return a.status.held == 0 and a.status.store_error is not None

            await until(stopped)
            answer = await http.get("/readyz")
            assert answer.status_code == 503 and answer.json()["status"] == "not ready"
            (problem,) = answer.json()["problems"]
            assert "state store unreachable" in problem and "stopped polling itero/c1" in problem
            await clock.advance(INTERVAL_S)
            await a.tick()
            assert len(log) == 1  # no round without a lease
            await asyncio.to_thread(_postgres, "start", str(run_dir), str(port))

            async def polling_again() -> bool:
                await clock.advance(a.try_every_s)
                await a.tick()
                await settle(a)
                return len(log) == 2

            await until(polling_again)
            assert (await http.get("/readyz")).status_code == 200 and a.status.describe() is None
        await a.close()
        await store.close()
    finally:
        await asyncio.to_thread(_postgres, "stop", str(run_dir))
        shutil.rmtree(run_dir, ignore_errors=True)
