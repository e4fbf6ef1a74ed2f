"""Align lab guideline §3.7.1: orders/lab no more often than every 120 s — per account, across poller
instances. Two runtimes (two "hosts", each its own store on one SQLite file) poll one Align lab connection
of the simulator, which counts too-frequent and overlapping polls (simulators/pollwatch.py); the holder
dies right after a round (its task cancelled, its lease never given back) and the other takes over once
the lease lapses, but waits out the 120 s since that round. Time is a ManualClock for the runtimes, the
pollers and the simulator; only the lease's TTL (1 s) runs on the store's real clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bus.factory import make_bus
from consumers.clock import ManualClock
from consumers.context import Shared
from consumers.http import new_client
from consumers.itero.poller import IteroPoller
from consumers.polling import PollerRuntime
from schemas.settings import ALIGN_LAB_MIN_POLL_S, BusSettings, IteroConnection, Settings, WebhookAuth
from simulators.itero.app import create_app as create_sim
from simulators.itero.state import IteroSimState
from state.base import ConnectionKey
from tests.servers import serve
from tests.shared import rounds_done, shared_state

EPOCH = 1_800_000_000.0


async def test_a_takeover_keeps_align_s_120_s_floor_and_never_polls_an_account_twice_at_once(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    sim = IteroSimState(workdir=tmp_path / "sim", clock=lambda: EPOCH + clock.now())
    async with serve(create_sim(sim)) as url:
        access, refresh = sim.issue_tokens()
        lab = IteroConnection(id="lab-1", vendor="align", company_id=str(sim.company_id),
                              webhook=WebhookAuth(token="t" * 32), base_url=url,
                              token_url=f"{url}/oauth/token", access_token=access, refresh_token=refresh,
                              poll_interval_s=ALIGN_LAB_MIN_POLL_S, poll_screen_captures=False)
        settings = Settings(bus=BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3"),
                            state_dir=tmp_path / "state", itero=[lab])
        key = ConnectionKey("align", "lab-1")
        bus = make_bus(settings.bus)
        await bus.start()
        async with shared_state(settings) as host_a, shared_state(settings) as host_b, \
                new_client(5.0) as http:

            def runtime(shared: Shared, owner: str) -> PollerRuntime:
                def build(k: ConnectionKey, connection: object) -> IteroPoller:
                    return IteroPoller(settings, lab, bus, http, clock=clock, shared=shared)
                return PollerRuntime(shared.state, lambda: [(key, lab)], lambda: 0, build, clock=clock,
                                     ttl_s=1.0, owner=owner, wall=lambda: EPOCH + clock.now())

            a, b = runtime(host_a, "a"), runtime(host_b, "b")
            polls = sim.lab_polls.polls[str(sim.company_id)]

            async def step(seconds: float, *runtimes: PollerRuntime) -> None:
                await clock.advance(seconds)
                for rt in runtimes:
                    await rt.tick()
                    await rounds_done(rt)
                await asyncio.sleep(0.02)  # the store's clock runs on (the lease's TTL)

            while len(polls) < 2:  # a polls at 0 s and 120 s; b waits
                await step(10.0, a, b)
            for slot in a.slots.values():  # a dies: no more ticks, its lease is not given back
                assert slot.task is None
            while b.status.held == 0:  # b takes the lease once it lapses (about 1 s of real time)
                await step(1.0, b)
            taken_at = clock.now()
            while len(polls) < 3:
                await step(5.0, b)
            await b.close()
        await bus.close()
    summary = sim.lab_polls.summary()[str(sim.company_id)]
    assert summary["too_frequent"] == 0 and summary["concurrent"] == 0, summary
    assert polls[2] - polls[1] >= ALIGN_LAB_MIN_POLL_S and polls[2] - EPOCH > taken_at  # it waited
