"""Connecting a Medit Link account: authorization code through the receiver's redirect route, password
grant, refresh before expiry and on 401 once across processes, and the re-authorization report
(meditlink-openapi.txt §1.2–1.4, FAQ "How to handle token expiration"); grants and pending states live
in the state store."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from consumers.clock import RealClock
from consumers.meditlink.oauth import ReauthorizationRequired, authorize_url, keeper, key_of
from consumers.meditlink.poller import MeditPoller
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED
from simulators.meditlink import CLIENT_ID, LAB_UUID
from state.base import Credentials
from tests.events import collect, of_type, settle
from tests.meditlink.conftest import FAST_RETRY, Stack
from tests.shared import runtime_of, shared_state


async def _saved(stack: Stack) -> Credentials | None:
    return await stack.shared.state.credentials.get(key_of(stack.connection))


async def _authorize(stack: Stack) -> str:
    return await authorize_url(stack.shared.state, stack.connection, stack.settings.receiver.public_url)


async def test_the_authorization_code_flow_stores_tokens_through_the_redirect_route(stack: Stack) -> None:
    url = await _authorize(stack)
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{stack.receiver_url}/oauth/meditlink/callback"]
    assert query["scope"] == ["USER GROUP CASE FILE ORDER"] and len(query["state"][0]) >= 24
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        answer = await browser.get(url)  # the simulator redirects straight back with code and state
    assert answer.status_code == 200 and answer.json()["connected"] == stack.connection.id
    record = await _saved(stack)
    assert record is not None and record.extra["refresh_token_exp"]
    assert stack.requests("/oauth/token", "POST") == 1


async def test_a_redirect_with_an_unknown_state_is_refused_and_stores_nothing(stack: Stack) -> None:
    await _authorize(stack)
    async with httpx.AsyncClient(base_url=stack.receiver_url) as client:
        answer = await client.get("/oauth/meditlink/callback", params={"code": "x" * 32, "state": "forged"})
    assert answer.status_code == 400 and answer.json()["error"] == "state_mismatch"
    assert await _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0


async def test_a_state_is_usable_once(stack: Stack) -> None:
    url = await _authorize(stack)
    async with httpx.AsyncClient(timeout=10) as browser:
        back = (await browser.get(url)).headers["location"]
        assert (await browser.get(back)).status_code == 200
        assert (await browser.get(back)).status_code == 400


async def test_the_password_grant_stores_tokens_and_the_group_uuid_once(stack: Stack, http: Any) -> None:
    await stack.connect()
    poller = stack.poller(http)
    assert await poller.client.group_uuid() == LAB_UUID
    assert await poller.client.group_uuid() == LAB_UUID
    saved = await _saved(stack)
    assert stack.requests("/v1/me") == 1 and saved is not None and saved.extra["group_uuid"] == LAB_UUID


async def test_a_token_about_to_expire_is_refreshed_before_the_call_once_for_all_processes(
        stack: Stack) -> None:
    await stack.connect()
    key = key_of(stack.connection)
    granted = await stack.shared.state.credentials.get(key)
    assert granted is not None
    old = await stack.shared.state.credentials.put(key, replace(  # 5 s of 24 h left
        granted, expires_at=datetime.now(UTC) + timedelta(seconds=5),
        extra={**granted.extra, "obtained_at": time.time() - 86395}))
    async with shared_state(stack.settings) as other:  # a second process, its own keeper and connections
        keepers = [keeper(stack.shared.keepers, stack.connection), keeper(other.keepers, stack.connection)]
        fresh = await asyncio.gather(*(keepers[n % 2].access_token() for n in range(6)))
    assert len(set(fresh)) == 1 and fresh[0] != old.access_token
    assert stack.requests("/oauth/token", "POST") == 2  # the grant, then exactly one refresh
    assert stack.sim.refresh_reuse == 0


async def test_a_refresh_token_nearing_expiry_is_reported_once(stack: Stack, http: Any) -> None:
    stack.sim.refresh_ttl_s = 86400.0  # one day left: inside the two-day warning
    await stack.connect()
    poller = stack.poller(http)
    await poller.poll_once()
    await poller.poll_once()
    async with shared_state(stack.settings) as other:  # another process meets it too
        await MeditPoller(poller.client, stack.bus, stack.topics, FAST_RETRY, RealClock(), other).poll_once()
    events = await settle(stack.bus, [stack.topics.events], quiet_s=1.0)
    report, = of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)
    data = report.json_data()
    assert data["reason"] == "refresh_token_expiring" and data["connection"] == stack.connection.id
    assert data["account"] == LAB_UUID and "scanbridge connect meditlink" in data["how"]


async def test_a_refused_refresh_token_marks_the_connection_and_pauses_polling(stack: Stack,
                                                                               http: Any) -> None:
    await stack.connect()
    stack.sim.expire_access_tokens()
    stack.sim.revoke_refresh_tokens()
    poller = stack.poller(http)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime_of(stack.shared, poller).run(stop))
    events = await collect(stack.bus, [stack.topics.events],
                           lambda ev: bool(of_type(ev, CONNECTION_REAUTHORIZATION_NEEDED)))
    stop.set()
    await asyncio.wait_for(task, 10)
    report = of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)[0]
    assert report.json_data()["reason"] == "refresh_token_refused"
    now = await stack.shared.health.read(key_of(stack.connection))
    assert now.status == "needs_reauthorization" and "ReauthorizationRequired" in (now.last_error or "")


async def test_reauthorization_is_reported_once_per_change_of_state_over_many_poll_rounds(
        stack: Stack, http: Any) -> None:
    poller = stack.poller(http)
    for _ in range(4):  # configured, never connected
        with pytest.raises(ReauthorizationRequired):
            await poller.poll_once()
    await stack.connect()
    await poller.poll_once()  # connected and working: the next refusal is a new change
    stack.sim.expire_access_tokens()
    stack.sim.revoke_refresh_tokens()
    for _ in range(4):
        with pytest.raises(ReauthorizationRequired):
            await poller.poll_once()
    events = await settle(stack.bus, [stack.topics.events], quiet_s=1.0)
    reports = [e.json_data() for e in of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)]
    assert sorted(r["reason"] for r in reports) == ["not_connected", "refresh_token_refused"]
    never = next(r for r in reports if r["reason"] == "not_connected")
    assert never["account"] is None and never["refresh_token_expires_at"] is None


STATELESS = [{"redirect_without_state": True}]


async def _follow(stack: Stack) -> httpx.Response:
    """Start an authorization and let the (non-echoing) simulator redirect back with `?code=` only."""
    url = await _authorize(stack)
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        return await browser.get(url)


async def _pending(stack: Stack) -> int:
    return await stack.shared.state.oauth.pending(key_of(stack.connection))


async def test_a_redirect_without_state_is_refused_by_default(stack: Stack) -> None:
    stack.sim.echo_state = False
    answer = await _follow(stack)
    assert answer.status_code == 400 and answer.json()["error"] == "state_mismatch"
    assert "state" not in answer.request.url.params  # the simulator redirected with the code alone
    assert await _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_redirect_without_state_binds_to_the_one_recent_authorization(stack: Stack) -> None:
    stack.sim.echo_state = False
    answer = await _follow(stack)
    assert answer.status_code == 200 and answer.json()["connected"] == stack.connection.id
    assert await _saved(stack) is not None and await _pending(stack) == 0  # the authorization was used up


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_redirect_without_state_is_refused_when_no_authorization_is_recent(
        stack: Stack) -> None:
    stack.sim.echo_state = False
    async with httpx.AsyncClient(base_url=stack.receiver_url) as client:
        answer = await client.get("/oauth/meditlink/callback", params={"code": "x" * 32})
    assert answer.status_code == 400 and answer.json()["error"] == "state_missing"
    url = await _authorize(stack)
    async with stack.shared.state.db.transaction() as tx:  # as if started six minutes ago
        await tx.execute("UPDATE oauth_states SET created_ms = created_ms - 360000")
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        answer = await browser.get(url)  # six minutes after it was started
    assert answer.status_code == 400 and answer.json()["error"] == "state_missing"
    assert await _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_redirect_without_state_is_refused_when_two_authorizations_are_pending(
        stack: Stack) -> None:
    stack.sim.echo_state = False
    await _authorize(stack)
    answer = await _follow(stack)
    assert answer.status_code == 400 and answer.json()["error"] == "state_missing"
    assert await _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0
    assert await _pending(stack) == 0  # both dropped: an ambiguous pair is never bound later
    assert (await _follow(stack)).status_code == 200  # a single fresh authorization then works


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_wrong_state_is_still_refused(stack: Stack) -> None:
    await _authorize(stack)
    async with httpx.AsyncClient(base_url=stack.receiver_url) as client:
        answer = await client.get("/oauth/meditlink/callback", params={"code": "x" * 32, "state": "forged"})
    assert answer.status_code == 400 and answer.json()["error"] == "state_mismatch"
    assert await _saved(stack) is None and await _pending(stack) == 1  # the real authorization is untouched
