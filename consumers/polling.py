"""One poller runtime for every vendor: each polled connection is a `Poller`, and one loop per process
drives them all (DESIGN.md §3 pollers, §7 Ownership; STYLE.md "Three pollers with three run loops").

**Ownership.** Work done once per connection belongs to the holder of its lease in the state store. The
instance that holds a connection's lease polls it, renews the lease every `ttl/3` and fences every write
of its rounds with it: a write carrying a lease someone else took since is refused (`StaleLease`) and the
round stops there.

**Spreading.** Every instance holds a membership lease of its own (`MEMBERS`, same TTL), so each sees how
many instances run. It takes free or lapsed leases up to its fair share — ceil(polled connections /
instances) — and gives back one lease per attempt interval while it holds more (a new instance gets its
part within a few intervals). When an instance dies its leases and its membership lapse after the TTL;
the others' share grows and they take its connections: the takeover delay is at most TTL + one attempt
interval (`try_every_s` = min(5 s, TTL/6)) + one tick.

**The vendor's floor.** Before each round the holder records its start (wall clock) in the connection's
`poll` entry, fenced: a new holder waits out the rest of the interval since then, so a vendor's minimum
time between polls (Align orders/lab: 120 s, guideline §3.7.1) holds across instances, hosts, restarts
and takeovers — even when the previous holder died in the middle of a round.

**Faults.** An instance that cannot renew (the store does not answer) stops polling a connection once
its lease may have lapsed, so that another instance can take it; it says so in its log and in `/readyz`
(`RuntimeStatus`), and takes leases again once the store answers. A state row a round cannot read (a
corrupt cursor) fails that round with `CorruptState`: it is logged with its connection, recorded in the
connection's health and counted — never read as empty.

The connections come from the catalog and follow it: a connection added, changed or removed at run time
gets, replaces or loses its poller at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from consumers.clock import Clock
from consumers.health import HealthBook
from consumers.metrics import LEASE_EVENTS, LEASES_HELD, POLL_ERRORS, poll_outcome
from state.base import ConnectionKey, Lease, StateStore
from state.errors import CorruptState, StaleLease, StateError, StateUnavailable

log = logging.getLogger(__name__)

POLL_ENTRY = "poll"  # {"started_at": epoch seconds, "owner"} of the last round, fenced by the holder's lease
MEMBERS = "_pollers"  # the vendor name of the runtimes' membership leases (one key per instance)
MAX_TICK_S = 1.0
DEFAULT_TTL_S = 30.0


class Poller(Protocol):
    """The polling of one connection. `poll` runs one round and writes what it remembers fenced by
    `lease` (None: unfenced, a test or a one-off); it raises when the round failed."""

    key: ConnectionKey
    interval_s: float

    @property
    def host(self) -> str:
        """The vendor host it calls (for logs)."""
        ...

    async def poll(self, lease: Lease | None) -> str | None:
        """One round; a short summary worth logging, or None."""
        ...

    async def close(self) -> None: ...


Build = Callable[[ConnectionKey, Any], Poller | None]  # a connection of the catalog → its poller, if polled


def owner_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is a new owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Slot:
    key: ConnectionKey
    connection: Any
    poller: Poller
    lease: Lease | None = None
    try_at: float = 0.0  # when to try to take the lease again
    renew_at: float = 0.0
    lapses_at: float = 0.0  # local clock: the lease may have lapsed from then on (renewal failed)
    poll_at: float | None = None  # local clock; None until the lease was taken and the poll entry read
    task: asyncio.Task[None] | None = None


@dataclass
class RuntimeStatus:
    """What `/readyz` of a poller process says: None while every connection it should poll is polled by
    someone as far as it can tell, else why not."""

    held: int = 0
    members: int = 1
    store_error: str | None = None  # the store did not answer the last membership renewal
    lost: dict[str, str] = field(default_factory=dict)  # connection → why this instance stopped polling it

    def describe(self) -> str | None:
        parts = []
        if self.store_error is not None:
            parts.append(f"state store unreachable ({self.store_error}): no lease can be taken or renewed")
        if self.lost:
            parts.append("stopped polling " + ", ".join(f"{name} ({why})"
                                                        for name, why in sorted(self.lost.items())))
        return "; ".join(parts) or None


class PollerRuntime:
    """Drives the pollers of the catalog's connections (see the module docstring)."""

    def __init__(self, state: StateStore, connections: Callable[[], Sequence[tuple[ConnectionKey, Any]]],
                 generation: Callable[[], int], build: Build, *, clock: Clock, ttl_s: float = DEFAULT_TTL_S,
                 owner: str | None = None, wall: Callable[[], float] = time.time,
                 wakeups: set[ConnectionKey] | None = None, health: HealthBook | None = None) -> None:
        self.state = state
        self._connections = connections
        self._generation = generation
        self._build = build
        self.clock = clock
        self.ttl_s = ttl_s
        self.owner = owner or owner_name()
        self._wall = wall
        self._health = health
        self.slots: dict[ConnectionKey, Slot] = {}
        self._seen_generation: int | None = None
        self.status = RuntimeStatus()
        self.counters: dict[str, int] = defaultdict(int)
        # Poll these at the next tick (`Shared.poll_soon`: a watch command added a patient).
        self.wakeups: set[ConnectionKey] = set() if wakeups is None else wakeups
        self._member = ConnectionKey(MEMBERS, self.owner)
        self._membership: Lease | None = None
        self._members_at = -math.inf  # when to renew the membership and count the members again
        self._give_back_at = 0.0

    def poll_soon(self, key: ConnectionKey) -> None:
        """Start a round of `key` at the next tick if this instance holds its lease (a patient was added)."""
        self.wakeups.add(key)

    @property
    def tick_s(self) -> float:
        return min(MAX_TICK_S, self.ttl_s / 6)

    @property
    def try_every_s(self) -> float:
        """How often a free or lapsed lease is tried for."""
        return min(5.0, self.ttl_s / 6)

    @property
    def share(self) -> int:
        """How many connections this instance polls at most: its fair part of those polled."""
        return math.ceil(len(self.slots) / max(1, self.status.members))

    # -- the loop ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self.tick()
                sleeper = asyncio.ensure_future(self.clock.sleep(self.tick_s))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for waiter in (sleeper, stopper):
                    waiter.cancel()
        finally:
            await self.close()

    async def tick(self) -> None:
        """One pass: follow the catalog, keep the leases, start the rounds that are due."""
        await self._follow_catalog()
        await self._count_members()
        wanted_now = set(self.wakeups)
        self.wakeups.clear()
        for slot in self._in_order():
            await self._keep_lease(slot)
            if slot.lease is None or slot.task is not None or slot.poll_at is None:
                continue
            if self.clock.now() >= slot.poll_at or slot.key in wanted_now:
                slot.task = asyncio.create_task(self._round(slot))
        await self._give_back_extra()
        self.status.held = sum(1 for s in self.slots.values() if s.lease is not None)
        LEASES_HELD.set(self.status.held)

    def _in_order(self) -> list[Slot]:
        """Held leases first; free ones in an order of this instance's own, so that instances starting
        together do not all go for the same connections first."""
        def rank(slot: Slot) -> tuple[bool, str]:
            mixed = hashlib.blake2s(f"{self.owner}|{slot.key}".encode(), digest_size=8).hexdigest()
            return slot.lease is None, mixed
        return sorted(self.slots.values(), key=rank)

    async def _follow_catalog(self) -> None:
        generation = self._generation()
        if generation == self._seen_generation:
            return
        self._seen_generation = generation
        wanted = dict(self._connections())
        for key, slot in list(self.slots.items()):
            if wanted.get(key) != slot.connection:  # removed or changed: the old poller goes
                del self.slots[key]
                await self._drop(slot, "connection removed or changed")
        for key, connection in wanted.items():
            if key in self.slots:
                continue
            poller = self._build(key, connection)
            if poller is not None:
                self.slots[key] = Slot(key, connection, poller)

    async def _count_members(self) -> None:
        """Renew this instance's membership and count the instances (every `try_every_s`)."""
        now = self.clock.now()
        if now < self._members_at:
            return
        self._members_at = now + self.try_every_s
        try:
            lease = self._membership
            if lease is not None:
                with contextlib.suppress(StaleLease):
                    self._membership = await self.state.leases.renew(lease, self.ttl_s)
                    lease = None
            if lease is not None or self._membership is None:
                self._membership = await self.state.leases.acquire(self._member, self.owner, self.ttl_s)
            owners = {held.owner for held in await self.state.leases.holders(MEMBERS)}
        except StateError as exc:
            if self.status.store_error is None:
                log.warning("state store unreachable: %s: %s; leases cannot be taken or renewed until it "
                            "answers", type(exc).__name__, exc)
            self.status.store_error = type(exc).__name__
            return
        if self.status.store_error is not None:
            log.warning("state store answers again: taking leases again")
            self.status.store_error = None
            self.status.lost.clear()  # those connections are free again, for us or another instance
        owners.add(self.owner)
        if len(owners) != self.status.members:
            log.info("%d poller instance(s) running: this one polls at most %d of %d connection(s)",
                     len(owners), math.ceil(len(self.slots) / len(owners)), len(self.slots))
        self.status.members = len(owners)

    async def _keep_lease(self, slot: Slot) -> None:
        now = self.clock.now()
        name = str(slot.key)
        if slot.lease is None:
            if now < slot.try_at or self.status.store_error is not None:
                return
            if sum(1 for s in self.slots.values() if s.lease is not None) >= self.share:
                return
            slot.try_at = now + self.try_every_s
            try:
                lease = await self.state.leases.acquire(slot.key, self.owner, self.ttl_s)
                if lease is None:
                    return  # another instance polls it
                slot.poll_at = await self._first_poll_at(slot, lease)
            except StateError as exc:
                log.warning("lease of %s not taken: state store %s", name, type(exc).__name__,
                            extra={"connection": name})
                return
            slot.lease, slot.renew_at, slot.lapses_at = lease, now + self.ttl_s / 3, now + self.ttl_s
            self.status.lost.pop(name, None)
            self.counters["leases_taken"] += 1
            LEASE_EVENTS.labels(slot.key.vendor, "acquired").inc()
            log.info("lease of %s taken (token %d); polling it", name, lease.token,
                     extra={"connection": name})
            return
        if now < slot.renew_at:
            return
        try:
            slot.lease = await self.state.leases.renew(slot.lease, self.ttl_s)
            slot.renew_at, slot.lapses_at = now + self.ttl_s / 3, now + self.ttl_s
        except StaleLease:
            await self._lose(slot, "lease taken over by another instance", report=False)
        except StateError as exc:
            slot.renew_at = now + self.tick_s
            if now >= slot.lapses_at - 2 * self.tick_s:  # it may lapse now: another instance may take it
                await self._lose(slot, f"cannot renew the lease: state store {type(exc).__name__}")

    async def _first_poll_at(self, slot: Slot, lease: Lease) -> float:
        """Wait out the rest of the interval since the last round anyone started."""
        interval = slot.poller.interval_s
        try:
            entry = await self.state.entries.get(slot.key, POLL_ENTRY)
        except CorruptState as exc:  # when the last round started is unknown: wait a whole interval
            log.error("poll entry of %s unreadable, waiting a whole interval before polling: %s",
                      slot.key, exc, extra={"connection": str(slot.key)})
            return self.clock.now() + interval
        started = entry.value.get("started_at") if entry and isinstance(entry.value, dict) else None
        if not isinstance(started, int | float):
            return self.clock.now()
        elapsed = self._wall() - float(started)
        return self.clock.now() + max(0.0, min(interval, interval - elapsed))

    async def _give_back_extra(self) -> None:
        """More than the fair share (another instance started): give one lease back per interval."""
        now = self.clock.now()
        held = [s for s in self.slots.values() if s.lease is not None]
        if len(held) <= self.share or now < self._give_back_at or self.status.store_error is not None:
            return
        self._give_back_at = now + self.try_every_s
        slot = min(held, key=lambda s: (s.task is not None, s.poll_at or 0.0))  # one not polling right now
        await self._cancel(slot)
        lease, slot.lease, slot.poll_at, slot.try_at = slot.lease, None, None, now + self.try_every_s
        assert lease is not None
        with contextlib.suppress(StateError):
            await self.state.leases.release(lease)
        LEASE_EVENTS.labels(slot.key.vendor, "released").inc()
        log.info("lease of %s given back: %d instances share %d connections", slot.key, self.status.members,
                 len(self.slots), extra={"connection": str(slot.key)})

    async def _lose(self, slot: Slot, why: str, *, report: bool = True) -> None:
        """Stop polling `slot`; `report`: a problem of this instance (not a normal takeover), shown in
        `/readyz` until the store answers again."""
        name = str(slot.key)
        if report:
            self.status.lost[name] = why
        self.counters["leases_lost"] += 1
        LEASE_EVENTS.labels(slot.key.vendor, "lost").inc()
        log.warning("stopped polling %s: %s", name, why, extra={"connection": name})
        await self._cancel(slot)
        slot.lease, slot.poll_at, slot.try_at = None, None, self.clock.now() + self.try_every_s

    async def _cancel(self, slot: Slot) -> None:
        task, slot.task = slot.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _drop(self, slot: Slot, why: str) -> None:
        await self._cancel(slot)
        if slot.lease is not None:
            with contextlib.suppress(StateError):
                await self.state.leases.release(slot.lease)
            LEASE_EVENTS.labels(slot.key.vendor, "released").inc()
            log.info("released the lease of %s: %s", slot.key, why, extra={"connection": str(slot.key)})
        await slot.poller.close()

    async def _round(self, slot: Slot) -> None:
        lease, name, vendor = slot.lease, str(slot.key), slot.key.vendor
        structlog.contextvars.bind_contextvars(connection=name)  # every line of this round names it
        started = self.clock.now()
        try:
            assert lease is not None
            await self.state.entries.put(slot.key, POLL_ENTRY, {"started_at": self._wall(),
                                                                "owner": self.owner}, fence=lease)
            summary = await slot.poller.poll(lease)
            self.counters["polls"] += 1
            poll_outcome(vendor, slot.key.id, True, time.time())
            if summary:
                log.info("poll %s: %s", name, summary)
        except StaleLease:
            slot.task = None  # _lose would cancel this very task
            POLL_ERRORS.labels(vendor, "stale_lease").inc()
            await self._lose(slot, "lease taken over by another instance", report=False)
            return
        except CorruptState as exc:
            self._failed(slot, "corrupt_state")
            log.error("poll %s stopped: a state row of the connection is unreadable (it is not read as "
                      "empty; repair or delete it): %s", name, exc, extra={"connection": name})
            await self._report(slot, f"state row unreadable: {exc}")
        except StateUnavailable as exc:
            self._failed(slot, "state_unavailable")
            log.warning("poll %s: state store unavailable: %s", name, exc)
        except Exception as exc:  # noqa: BLE001 - one connection's failure never stops the loop
            self._failed(slot, "vendor")
            log.warning("poll %s (%s) failed: %s: %s", name, slot.poller.host, type(exc).__name__, exc,
                        extra={"host": slot.poller.host})
        finally:
            structlog.contextvars.unbind_contextvars("connection")
        slot.poll_at = started + slot.poller.interval_s
        slot.task = None

    def _failed(self, slot: Slot, kind: str) -> None:
        self.counters["errors"] += 1
        self.counters[kind] += 1
        POLL_ERRORS.labels(slot.key.vendor, kind).inc()
        poll_outcome(slot.key.vendor, slot.key.id, False, time.time())

    async def _report(self, slot: Slot, error: str) -> None:
        if self._health is None:
            return
        with contextlib.suppress(StateError):
            await self._health.error(slot.key, error)

    async def close(self) -> None:
        """Stop every round and give the leases back, so other instances take them at once."""
        for slot in list(self.slots.values()):
            await self._drop(slot, "stopping")
        self.slots.clear()
        membership, self._membership = self._membership, None
        if membership is not None:
            with contextlib.suppress(StateError):
                await self.state.leases.release(membership)
        LEASES_HELD.set(0)
