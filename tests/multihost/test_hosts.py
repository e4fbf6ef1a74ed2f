"""Three hosts (issue 12 item 7, DESIGN.md §9): each a group of `scanbridge` processes (receiver, worker,
poller) with its own working folder and no shared local disk but the artifact folder, on one real Kafka broker
and one real PostgreSQL state store. A stream of iTero and Align scans goes round-robin to the three
receivers; halfway one host is killed with SIGKILL and started again.

Each host also runs a poller: the host killed is the one whose poller holds the iTero clinic's lease.
Asserted: every scan's artifacts announced exactly once (the markers are in the shared state store); no
refresh token spent twice when every host's workers find the access token expired at once (the simulator
refuses a spent refresh token, `refresh_reuse`); a Medit Link OAuth redirect completed on another host
than the one that made the authorize URL (the pending `state` is in the store); no account polled by two
instances at once and Align's 120 s floor kept (simulators/pollwatch.py); the killed host's connection
taken over by another instance with a newer fencing token. The figures are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet

from bus.kafka import KafkaBus
from consumers.meditlink.oauth import key_of
from schemas import connections
from schemas.events import StoredArtifact
from schemas.settings import AlignConnection, IteroConnection, MeditConnection, StateSettings, WebhookAuth
from schemas.topics import ARTIFACT_STORED, ORDER_COMPLETED, Topics
from simulators.itero.app import create_app as create_itero_sim
from simulators.itero.notify import post_notification
from simulators.itero.state import IteroSimState
from simulators.meditlink import CLIENT_ID, CLIENT_SECRET
from simulators.meditlink.app import create_app as create_medit_sim
from simulators.meditlink.state import MeditSimState
from state.base import ConnectionKey, Lease
from state.factory import make_state_store
from tests.events import collect, of_type, read_to_end
from tests.node import ROOT
from tests.servers import serve
from tests.tcpgate import free_port

SCANS = 12  # half iTero, half Align; the kill comes after the first half is stored
LEASE_TTL_S = 3.0  # short, so that the killed host's connections are taken over quickly
CLAIM_TTL_S = 3.0  # short, so that the orders the killed host's worker held are taken up quickly
ROLES = ("receiver", "worker", "poller")
CLINIC = ConnectionKey("itero", "clinic")
PUBLIC_URL = "http://scanbridge.test"  # the load balancer's address, the same for every host
SCANBRIDGE = str(Path(sys.executable).parent / "scanbridge")
RETRY = {"initial_delay_s": 0.05, "max_delay_s": 0.5, "not_ready_for_s": 20.0, "server_error_for_s": 10.0,
         "request_timeout_s": 10.0}


@dataclass
class Host:
    """One host: its processes, its own folder (state_dir, spool), its receiver port."""

    name: str
    folder: Path
    env: dict[str, str]
    port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *roles: str) -> None:
        for role in roles:
            with (self.folder / f"{role}.log").open("ab") as log:  # the process has its own descriptor
                self.processes[role] = subprocess.Popen([SCANBRIDGE, role], cwd=self.folder, env=self.env,
                                                        stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def cli(self, *args: str) -> str:
        done = subprocess.run([SCANBRIDGE, *args], cwd=self.folder, env=self.env, capture_output=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done.stdout.decode()

    def logs(self) -> str:
        return "".join(f"--- {self.name} {log.name}\n{log.read_text()[-3000:]}"
                       for log in self.folder.glob("*.log"))


@dataclass
class World:
    hosts: list[Host]
    itero: IteroSimState
    align: IteroSimState
    medit: MeditSimState
    tokens: dict[str, str]  # vendor → webhook token
    state: StateSettings
    key: str


def _env(name: str, folder: Path, port: int, topics: Topics, kafka: str, dsn: str, key: str,
         connections_json: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_")}
    env |= {
        "KAFKA_BOOTSTRAP": kafka, "SCANBRIDGE_BUS__KAFKA__PARTITIONS": "3",
        "SCANBRIDGE_BUS__SPOOL_PATH": str(folder / "spool.sqlite3"),
        "SCANBRIDGE_STATE_DIR": str(folder / "state"),
        "SCANBRIDGE_STATE__BACKEND": "postgres", "SCANBRIDGE_STATE__DSN": dsn,
        "SCANBRIDGE_STATE__RELOAD_S": "1", "SCANBRIDGE_CREDENTIALS_KEYS": key,
        "SCANBRIDGE_RECEIVER__PORT": str(port), "SCANBRIDGE_RECEIVER__PUBLIC_URL": PUBLIC_URL,
        "SCANBRIDGE_OPS__PORT": "0", "SCANBRIDGE_POLLER__LEASE_TTL_S": str(LEASE_TTL_S),
        "SCANBRIDGE_WORKER__CLAIM_TTL_S": str(CLAIM_TTL_S),
        "SCANBRIDGE_WORKER__GROUP": "multihost-workers", "SCANBRIDGE_WORKER__RETRY": json.dumps(RETRY),
        "SCANBRIDGE_LOG_FORMAT": "console", "SCANBRIDGE_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    env |= {f"SCANBRIDGE_BUS__TOPICS__{k.upper()}": v for k, v in topics.model_dump().items()}
    env |= connections_json
    return env


def _connections(itero_url: str, align_url: str, medit_url: str, itero: IteroSimState, align: IteroSimState,
                 tokens: dict[str, str]) -> dict[str, str]:
    """The TOML's connections (as the environment gives them): they seed the shared state store."""
    access, refresh = itero.issue_tokens()
    clinic = IteroConnection(id="clinic", company_id=str(itero.company_id), webhook=WebhookAuth(
        token=tokens["itero"]), base_url=itero_url, token_url=f"{itero_url}/oauth/token", access_token=access,
        refresh_token=refresh, poll_interval_s=2.0, poll_screen_captures=False)
    access, refresh = align.issue_tokens()
    lab = AlignConnection(id="lab", company_id=str(align.company_id), webhook=WebhookAuth(
        token=tokens["align"]), base_url=align_url, token_url=f"{align_url}/oauth/token", access_token=access,
        refresh_token=refresh, poll_interval_s=120.0, poll_screen_captures=False)  # Align's floor
    medit = MeditConnection(id="medit", webhook=WebhookAuth(token=tokens["meditlink"]), auth_url=medit_url,
                            api_url=medit_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return {"SCANBRIDGE_ITERO": json.dumps([connections.revealed(clinic), connections.revealed(lab)]),
            "SCANBRIDGE_MEDITLINK": json.dumps([connections.revealed(medit)])}


@pytest.fixture
async def world(tmp_path: Path, kafka_bus: KafkaBus, kafka_bootstrap: str, topics: Topics,
                postgres_schema_dsn: str) -> AsyncIterator[World]:
    itero = IteroSimState(workdir=tmp_path / "sim-itero")
    align = IteroSimState(workdir=tmp_path / "sim-align", company_id=5151, company_name="Lab")
    medit = MeditSimState()
    tokens = {vendor: secrets.token_urlsafe(32) for vendor in ("itero", "align", "meditlink")}
    key = Fernet.generate_key().decode()
    async with serve(create_itero_sim(itero)) as itero_url, serve(create_itero_sim(align)) as align_url, \
            serve(create_medit_sim(medit)) as medit_url:
        seeds = _connections(itero_url, align_url, medit_url, itero, align, tokens)
        hosts = []
        for name in ("a", "b", "c"):
            folder = tmp_path / f"host-{name}"
            folder.mkdir()
            port = free_port()
            env = _env(name, folder, port, topics, kafka_bootstrap, postgres_schema_dsn, key, seeds)
            env["SCANBRIDGE_STORAGE__ROOT"] = str(tmp_path / "shared-artifacts")  # the one shared folder
            hosts.append(Host(name, folder, env, port))
        state = StateSettings(backend="postgres", dsn=postgres_schema_dsn)  # type: ignore[arg-type]
        try:
            yield World(hosts, itero, align, medit, tokens, state, key)
        finally:
            for host in hosts:
                host.stop()


async def _serving(host: Host) -> None:
    async with httpx.AsyncClient(base_url=host.url, timeout=5) as client:
        while True:
            for role, process in host.processes.items():
                assert process.poll() is None, f"{host.name} {role} exited:\n{host.logs()}"
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def _notify(world: World, order: int, start: int) -> str:
    """Post scan `order` to the receivers round-robin from `start`; a host that is down is skipped, as a
    load balancer does. Returns the host that answered 202."""
    sim, vendor = (world.itero, "itero") if order % 2 == 0 else (world.align, "align")
    scan = sim.add_order(size=20_000)
    for step in range(len(world.hosts)):
        host = world.hosts[(start + step) % len(world.hosts)]
        try:
            answer = await post_notification(f"{host.url}/hooks/{vendor}/{world.tokens[vendor]}", scan.rx_id,
                                             sim.company_id)
        except httpx.TransportError:
            continue
        assert answer.status_code == 202, answer.text
        return host.name
    raise AssertionError("no receiver answered")


async def _holder_of(world: World, key: ConnectionKey) -> tuple[Host, Lease]:
    """The host whose poller holds `key`'s lease (waits until one does), and the lease."""
    store = make_state_store(world.state, keys=[world.key])
    await store.start()
    try:
        while True:
            lease = await store.leases.holder(key)
            for host in world.hosts:
                poller = host.processes.get("poller")
                if lease is not None and poller is not None and f":{poller.pid}:" in lease.owner:
                    return host, lease
            await asyncio.sleep(0.2)
    finally:
        await store.close()


async def _taken_over(world: World, key: ConnectionKey, held: Lease) -> Lease:
    """The lease of `key` once another owner holds it."""
    store = make_state_store(world.state, keys=[world.key])
    await store.start()
    try:
        while True:
            lease = await store.leases.holder(key)
            if lease is not None and lease.owner != held.owner:
                return lease
            await asyncio.sleep(0.1)
    finally:
        await store.close()


def _order(ref: dict[str, Any]) -> tuple[str, str, str]:
    return ref["vendor"], ref["account"], ref["order_id"]


def _stored(events: list[Any]) -> list[StoredArtifact]:
    return [StoredArtifact.model_validate(e.data) for e in of_type(events, ARTIFACT_STORED)]


async def _completed(bus: KafkaBus, topics: Topics, orders: int, world: World) -> list[Any]:
    try:
        return await collect(bus, [topics.artifacts], lambda ev: len(
            {_order(e.data["order"]) for e in of_type(ev, ORDER_COMPLETED)}) >= orders, timeout=120)
    except TimeoutError:
        raise AssertionError("".join(h.logs() for h in world.hosts)) from None


@pytest.mark.timeout(300)  # nine process starts on a loaded 2-core machine; about a minute when idle
async def test_three_hosts_announce_each_artifact_once_through_a_kill_and_share_oauth_and_tokens(
    world: World, kafka_bus: KafkaBus, topics: Topics
) -> None:
    began = time.monotonic()
    for host in world.hosts:
        host.start(*ROLES)
    await asyncio.gather(*(_serving(host) for host in world.hosts))

    # OAuth: host a makes the authorize URL, the redirect comes back through the balancer to host b.
    authorize = world.hosts[0].cli("connect", "meditlink", "--connection", "medit").strip().splitlines()[-1]
    async with httpx.AsyncClient(timeout=10) as browser:
        back = urlsplit((await browser.get(authorize)).headers["location"])
        assert f"{back.scheme}://{back.netloc}" == PUBLIC_URL
        finished = await browser.get(f"{world.hosts[1].url}{back.path}?{back.query}")
    assert finished.status_code == 200 and finished.json()["connected"] == "medit", finished.text

    answered = Counter([await _notify(world, n, n) for n in range(SCANS // 2)])
    first = await _completed(kafka_bus, topics, SCANS // 2, world)
    victim, held = await _holder_of(world, CLINIC)  # the host whose poller polls the iTero clinic
    killed_at = time.monotonic()
    victim.kill()  # SIGKILL: what its worker had not committed is redelivered elsewhere, its leases lapse
    taken = await _taken_over(world, CLINIC, held)
    takeover_s = time.monotonic() - killed_at
    world.itero.expire_access_tokens()  # every worker now refreshes: one of them, once, per grant
    world.align.expire_access_tokens()
    answered.update([await _notify(world, n, n) for n in range(SCANS // 2, SCANS - 2)])
    victim.start(*ROLES)
    await _serving(victim)
    answered.update([await _notify(world, n, n) for n in range(SCANS - 2, SCANS)])
    await _completed(kafka_bus, topics, SCANS, world)
    for host in world.hosts:
        host.stop()  # SIGTERM: nothing is in flight any more; what is on the topics is final
    events = await read_to_end(kafka_bus, [topics.artifacts])

    stored = _stored(events)
    per_artifact = Counter(s.artifact_id for s in stored)
    duplicates = sum(n - 1 for n in per_artifact.values())
    orders = {(s.order.vendor, s.order.account, s.order.order_id) for s in stored}
    completions = Counter(_order(e.data["order"]) for e in of_type(events, ORDER_COMPLETED))
    refreshed = (len(world.itero.spent_refresh_tokens), len(world.align.spent_refresh_tokens))
    logs = "".join(log.read_text() for host in world.hosts for log in host.folder.glob("worker.log"))
    waits, recovered = logs.count("waiting for its claim"), logs.count("marker recovered")
    print(f"\nmulti-host: {SCANS} scans over {len(world.hosts)} hosts (answered by {dict(answered)}), "
          f"{len(stored)} artifact.stored, {len(per_artifact)} artifacts, {duplicates} duplicates, "
          f"{sum(completions.values())} order.completed; {waits} waits for an order's claim, "
          f"{recovered} markers recovered from the topic; kill at {killed_at - began:.1f} s; "
          f"refreshes itero={refreshed[0]} align={refreshed[1]}, "
          f"refresh token reuse itero={world.itero.refresh_reuse} align={world.align.refresh_reuse}; "
          f"iTero clinic taken over from host {victim.name} in {takeover_s:.1f} s "
          f"(lease TTL {LEASE_TTL_S:g} s); "
          f"polls {world.itero.practice_polls.summary()} {world.align.lab_polls.summary()}; "
          f"{time.monotonic() - began:.1f} s in all")
    assert len(first) > 0 and len(orders) == SCANS
    # Exactly once on the topic (README "Running on several hosts"): through the SIGKILL and the rebalance
    # it causes, an order redelivered while its first worker had published but not recorded the marker is
    # not announced again (the order's claim, the intent recovered from the topic).
    assert duplicates == 0, [(aid, n) for aid, n in per_artifact.items() if n > 1]
    assert all(n == 1 for n in completions.values()) and len(completions) == SCANS, completions
    per_order = Counter((s.order.vendor, s.order.order_id) for s in stored)
    assert len(set(per_order.values())) == 1  # every scan has all its artifacts (the same kinds for all)
    assert all(n >= 1 for n in refreshed)  # the expired tokens were refreshed (after the kill)…
    assert world.itero.refresh_reuse == 0 and world.align.refresh_reuse == 0  # …never one twice
    assert set(answered) == {"a", "b", "c"}
    assert taken.owner != held.owner and taken.token > held.token  # another instance, a newer fence
    practice, lab = world.itero.practice_polls.summary(), world.align.lab_polls.summary()
    assert all(a["concurrent"] == 0 for a in [*practice.values(), *lab.values()])  # never two at once
    assert all(a["too_frequent"] == 0 for a in lab.values())  # Align's 120 s floor, across instances
    assert sum(a["polls"] for a in practice.values()) >= 2 and lab

    store = make_state_store(world.state, keys=[world.key])
    await store.start()
    try:
        medit = MeditConnection(id="medit", webhook=WebhookAuth(token=world.tokens["meditlink"]),
                                client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        assert await store.credentials.get(key_of(medit)) is not None  # stored by host b
    finally:
        await store.close()
