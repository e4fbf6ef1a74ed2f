"""The token keeper: an `httpx.Auth` that sends the bearer token to the API origins only, refreshes once
on a 401 inside the auth flow, and refreshes a rotating refresh token once across processes (three
stores on one SQLite file stand for three processes) against the iTero simulator over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from consumers.errors import Unauthorized
from consumers.itero import pairing
from consumers.tokens import TokenKeepers
from schemas.settings import IteroConnection, StateSettings, WebhookAuth
from simulators.itero.app import create_app
from simulators.itero.state import IteroSimState
from state.factory import make_state_store
from state.store import SqlStateStore
from tests.servers import serve

PRACTICE = "/api/third-party/v2/orders/practice?Offset=0&pageSize=10"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[IteroSimState, str]]:
    state = IteroSimState(workdir=tmp_path / "sim")
    async with serve(create_app(state)) as url:
        yield state, url


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[list[SqlStateStore]]:
    key = Fernet.generate_key().decode()
    stores = [make_state_store(StateSettings(path=tmp_path / "state.sqlite3"), keys=[key]) for _ in range(3)]
    for store in stores:
        await store.start()
    yield stores
    for store in stores:
        await store.close()


def _connection(sim: IteroSimState, url: str) -> IteroConnection:
    access, refresh = sim.issue_tokens()
    return IteroConnection(id="c1", webhook=WebhookAuth(token="t" * 32), base_url=url,
                           token_url=f"{url}/oauth/token", access_token=access, refresh_token=refresh)


def _refreshes(sim: IteroSimState) -> int:
    return sum(1 for method, path in sim.requests if (method, path) == ("POST", "/oauth/token"))


async def test_a_401_is_answered_inside_the_auth_flow_by_one_refresh_across_processes(
    sim: tuple[IteroSimState, str], processes: list[SqlStateStore],
) -> None:
    state, url = sim
    connection = _connection(state, url)
    keepers = [pairing.keeper(TokenKeepers(store), connection) for store in processes]
    async with httpx.AsyncClient(base_url=url) as http:
        assert (await http.get(PRACTICE, auth=keepers[0])).status_code == 200  # seeds the store
        state.slow_s = 0.05  # the token endpoint answers after a while: the others come meanwhile
        state.expire_access_tokens()
        answers = await asyncio.gather(*(http.get(PRACTICE, auth=keepers[n % 3]) for n in range(9)))
    assert [a.status_code for a in answers] == [200] * 9
    assert _refreshes(state) == 1 and state.refresh_reuse == 0
    fresh = await processes[2].credentials.get(pairing.key_of(connection))
    assert fresh is not None and state.token_valid(fresh.access_token)
    assert fresh.refresh_token in state.refresh_tokens


async def test_the_token_goes_to_the_api_origins_only(
    sim: tuple[IteroSimState, str], processes: list[SqlStateStore],
) -> None:
    state, url = sim
    keeper = pairing.keeper(TokenKeepers(processes[0]), _connection(state, url))
    seen: list[httpx.Request] = []

    def elsewhere(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401)

    async with httpx.AsyncClient(transport=httpx.MockTransport(elsewhere)) as http:
        answer = await http.get("http://cdn.example/signed/1.zip", auth=keeper,
                                headers={"Authorization": "Bearer smuggled"})
    assert answer.status_code == 401 and len(seen) == 1  # a 401 elsewhere is not answered by a refresh
    assert "authorization" not in seen[0].headers and _refreshes(state) == 0


async def test_a_refused_refresh_is_unauthorized_and_not_offered_to_the_vendor_again(
    sim: tuple[IteroSimState, str], processes: list[SqlStateStore],
) -> None:
    state, url = sim
    keeper = pairing.keeper(TokenKeepers(processes[0]), _connection(state, url))
    state.paired = False  # un-paired: tokens and refresh refused (invalid_grant)
    async with httpx.AsyncClient(base_url=url) as http:
        for _ in range(3):
            with pytest.raises(Unauthorized, match="invalid_grant"):
                await http.get(PRACTICE, auth=keeper)
    assert _refreshes(state) == 1
