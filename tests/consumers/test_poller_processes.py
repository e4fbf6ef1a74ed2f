"""Two `scanbridge poller` processes on one state store (SQLite file, PostgreSQL server), four iTero
connections each on a simulator of its own that counts overlapping and too-frequent polls per account
(simulators/pollwatch.py): the processes split the connections, never poll one account at once, and when
one is killed with SIGKILL the other takes its connections once their leases lapse (short TTL; waited on
with a generous bound, never asserted as a time)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from schemas.settings import StateSettings
from simulators.itero.app import create_app as create_sim
from simulators.itero.state import IteroSimState
from state.base import ConnectionKey
from state.factory import make_state_store
from state.store import SqlStateStore
from tests.servers import serve
from tests.tcpgate import free_port

CONNECTIONS = 4
INTERVAL_S = 1.0
TTL_S = 1.5
CLI = str(Path(sys.executable).with_name("scanbridge"))


def _toml(tmp_path: Path, state: str, sims: list[tuple[str, IteroSimState]], tokens: list[tuple[str, str]],
          port: int) -> str:
    """One configuration for every process but for its ops port (the same connections, tokens included)."""
    lines = [f'state_dir = "{tmp_path / "state"}"', "[bus]", 'backend = "local"',
             f'local_path = "{tmp_path / "bus.sqlite3"}"', "[ops]", f"port = {port}", "[poller]",
             f"lease_ttl_s = {TTL_S}", state]
    for n, ((url, sim), (access, refresh)) in enumerate(zip(sims, tokens, strict=True)):
        lines += ["[[itero]]", f'id = "clinic-{n}"', f'company_id = "{sim.company_id}"',
                  f'base_url = "{url}"', f'token_url = "{url}/oauth/token"', f'access_token = "{access}"',
                  f'refresh_token = "{refresh}"', f'webhook.token = "webhook-token-{n}-{"x" * 32}"',
                  f"poll_interval_s = {INTERVAL_S}", "poll_screen_captures = false"]
    return "\n".join(lines) + "\n"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, StateSettings]:
    """(the TOML's [state] section, the same settings for the test's own look at the store)."""
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_schema_dsn")
        return f'[state]\nbackend = "postgres"\ndsn = "{dsn}"\ntimeout_s = 2', \
            StateSettings(backend="postgres", dsn=dsn)
    path = tmp_path / "state.sqlite3"
    return f'[state]\npath = "{path}"', StateSettings(path=path)


@pytest.fixture
async def sims(tmp_path: Path) -> AsyncIterator[list[tuple[str, IteroSimState]]]:
    async with AsyncExitStack() as stack:
        found = []
        for n in range(CONNECTIONS):
            sim = IteroSimState(workdir=tmp_path / f"sim-{n}", company_id=5000 + n)
            sim.practice_polls.min_interval_s = INTERVAL_S / 2  # generous: request latency varies under load
            sim.list_delay_s = 0.2  # a poll takes a while: two at once would overlap
            found.append((await stack.enter_async_context(serve(create_sim(sim))), sim))
        yield found


async def until(condition: Callable[[], Awaitable[bool]], bound_s: float = 60.0) -> None:
    """Wait until `condition()` holds; `bound_s` only guards against a hang."""
    deadline = time.monotonic() + bound_s
    while not await condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.1)


async def test_two_poller_processes_split_the_connections_and_the_survivor_takes_the_killed_one_s(
    tmp_path: Path, backend: tuple[str, StateSettings], sims: list[tuple[str, IteroSimState]],
) -> None:
    section, state_settings = backend
    key = Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP"} | {
        "SCANBRIDGE_CREDENTIALS_KEYS": key, "SCANBRIDGE_CONFIG": ""}
    ports = [free_port(), free_port()]
    configs = []
    tokens = [sim.issue_tokens() for _, sim in sims]
    for n, port in enumerate(ports):
        config = tmp_path / f"poller-{n}.toml"
        config.write_text(_toml(tmp_path, section, sims, tokens, port))
        configs.append(config)
    keys = [ConnectionKey("itero", f"clinic-{n}") for n in range(CONNECTIONS)]
    store: SqlStateStore = make_state_store(state_settings, keys=[key])
    procs: list[asyncio.subprocess.Process] = []

    async def owners() -> list[str | None]:
        return [lease.owner if lease else None for lease in [await store.leases.holder(k) for k in keys]]

    def pid_of(owner: str | None) -> int | None:
        return int(owner.split(":")[1]) if owner else None

    try:
        for n in range(2):
            with (tmp_path / f"poller-{n}.log").open("wb") as log:
                procs.append(await asyncio.create_subprocess_exec(
                    CLI, "--config", str(configs[n]), "poller", env=env, stdout=log,
                    stderr=asyncio.subprocess.STDOUT))
        await until(lambda: _started(store))
        a, b = procs

        async def split() -> bool:
            held = [pid_of(o) for o in await owners()]
            return sorted(held, key=str) == sorted([a.pid, a.pid, b.pid, b.pid])

        await until(split)
        await until(lambda: _polled(sims, 3))
        a.send_signal(signal.SIGKILL)
        await a.wait()
        killed_at = time.monotonic()

        async def taken_over() -> bool:
            return [pid_of(o) for o in await owners()] == [b.pid] * CONNECTIONS

        await until(taken_over)
        took = time.monotonic() - killed_at
        print(f"\ntakeover of {CONNECTIONS // 2} connections after SIGKILL: {took:.2f} s (TTL {TTL_S} s)")
        after = [len(sim.practice_polls.polls[str(sim.company_id)]) for _, sim in sims]
        await until(lambda: _polled(sims, 1, after=after))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=5) as http:
            ready, metrics = (await http.get("/readyz")), (await http.get("/metrics")).text
        assert ready.status_code == 200
        assert f"scanbridge_poller_leases_held {float(CONNECTIONS)}" in metrics
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
        await store.close()
    for _, sim in sims:
        summary = sim.practice_polls.summary()[str(sim.company_id)]
        assert summary["concurrent"] == 0 and summary["too_frequent"] == 0, summary


async def _started(store: SqlStateStore) -> bool:
    """The first process created the schema (the test's store opens on it)."""
    try:
        await store.start()
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return True


async def _polled(sims: list[tuple[str, IteroSimState]], at_least: int,
                  after: list[int] | None = None) -> bool:
    """Every simulator saw `at_least` polls (more than `after` of each)."""
    counts = [len(sim.practice_polls.polls[str(sim.company_id)]) for _, sim in sims]
    bases = after or [0] * len(counts)
    return all(count >= base + at_least for count, base in zip(counts, bases, strict=True))
