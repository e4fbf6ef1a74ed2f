"""The iTero / Align simulator's token rotation and what it sees of our polling (issue 12 item 6)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from simulators.itero.app import create_app
from simulators.itero.state import IteroSimState
from tests.servers import serve

LAB = "/api/third-party/v1/orders/lab"
PRACTICE = "/api/third-party/v2/orders/practice"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(tmp_path: Path, clock: Clock) -> IteroSimState:
    return IteroSimState(workdir=tmp_path, clock=clock)


@pytest.fixture
async def http(sim: IteroSimState) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(sim)) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        access, _ = sim.issue_tokens()
        client.headers["Authorization"] = f"Bearer {access}"
        yield client


async def test_a_refresh_token_works_once_and_its_second_use_is_invalid_grant_and_counted(
    http: httpx.AsyncClient, sim: IteroSimState
) -> None:
    _, refresh = sim.issue_tokens()
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    first = await http.post("/oauth/token", data=form)
    assert first.status_code == 200 and first.json()["refresh_token"] != refresh
    second = await http.post("/oauth/token", data=form)
    assert second.status_code == 400 and second.json() == {"error": "invalid_grant"}
    assert sim.refresh_reuse == 1
    unknown = await http.post("/oauth/token", data={**form, "refresh_token": "never-issued"})
    assert unknown.status_code == 400 and sim.refresh_reuse == 1  # unknown is not a reuse


async def test_lab_polls_sooner_than_120_s_apart_are_counted_per_account(
    http: httpx.AsyncClient, sim: IteroSimState, clock: Clock
) -> None:
    page = {"Offset": 0, "pageSize": 10}
    for step in (0.0, 120.0, 119.0):  # the third comes 119 s after the second
        clock.now += step
        assert (await http.get(LAB, params=page)).status_code == 200
    assert (await http.get(LAB, params={**page, "Offset": 10})).status_code == 200  # a later page
    seen = sim.lab_polls.summary()[str(sim.company_id)]
    assert seen["polls"] == 3 and seen["too_frequent"] == 1 and seen["shortest_gap_s"] == 119.0


async def test_two_practice_polls_in_flight_at_once_are_counted_as_concurrent(
    http: httpx.AsyncClient, sim: IteroSimState
) -> None:
    sim.list_delay_s = 0.2
    page = {"Offset": 0, "pageSize": 10}
    answers = await asyncio.gather(*(http.get(PRACTICE, params=page) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    seen = sim.practice_polls.summary()[str(sim.company_id)]
    assert seen["polls"] == 2 and seen["concurrent"] == 1
    await http.get(PRACTICE, params=page)
    assert sim.practice_polls.summary()[str(sim.company_id)]["concurrent"] == 1  # alone: not counted
