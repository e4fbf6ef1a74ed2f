"""Connecting a Medit Link account: authorization code through the receiver's redirect route, password
grant, refresh before expiry and on 401 under one lock, and the re-authorization report
(meditlink-openapi.txt §1.2–1.4, FAQ "How to handle token expiration")."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from consumers import health
from consumers.meditlink.oauth import ReauthorizationRequired, authorize_url, tokens_for
from schemas.credentials import load_tokens, token_path
from schemas.topics import CONNECTION_REAUTHORIZATION_NEEDED
from simulators.meditlink import CLIENT_ID, LAB_UUID
from tests.events import collect, of_type, settle
from tests.meditlink.conftest import Stack


def _saved(stack: Stack) -> Any:
    return load_tokens(token_path(stack.settings.state_dir, "meditlink", stack.connection.id))


def _mode(stack: Stack) -> str:
    return oct(token_path(stack.settings.state_dir, "meditlink", stack.connection.id).stat().st_mode & 0o777)


async def test_the_authorization_code_flow_stores_tokens_through_the_redirect_route(stack: Stack) -> None:
    url = authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    query = parse_qs(urlsplit(url).query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{stack.receiver_url}/oauth/meditlink/callback"]
    assert query["scope"] == ["USER GROUP CASE FILE ORDER"] and len(query["state"][0]) >= 24
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        answer = await browser.get(url)  # the simulator redirects straight back with code and state
    assert answer.status_code == 200 and answer.json()["connected"] == stack.connection.id
    record = _saved(stack)
    assert record is not None and record.refresh_token_exp and _mode(stack) == "0o600"
    assert stack.requests("/oauth/token", "POST") == 1


async def test_a_redirect_with_an_unknown_state_is_refused_and_stores_nothing(stack: Stack) -> None:
    authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    async with httpx.AsyncClient(base_url=stack.receiver_url) as client:
        answer = await client.get("/oauth/meditlink/callback", params={"code": "x" * 32, "state": "forged"})
    assert answer.status_code == 400 and answer.json()["error"] == "state_mismatch"
    assert _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0


async def test_a_state_is_usable_once(stack: Stack) -> None:
    url = authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    async with httpx.AsyncClient(timeout=10) as browser:
        back = (await browser.get(url)).headers["location"]
        assert (await browser.get(back)).status_code == 200
        assert (await browser.get(back)).status_code == 400


async def test_the_password_grant_stores_tokens_and_the_group_uuid_once(stack: Stack, http: Any) -> None:
    await stack.connect()
    poller = stack.poller(http)
    assert await poller.client.group_uuid() == LAB_UUID
    assert await poller.client.group_uuid() == LAB_UUID
    assert stack.requests("/v1/me") == 1 and _saved(stack).group_uuid == LAB_UUID and _mode(stack) == "0o600"


async def test_a_token_about_to_expire_is_refreshed_before_the_call_once_for_all_callers(
        stack: Stack) -> None:
    await stack.connect()
    tokens = tokens_for(stack.settings.state_dir, stack.connection)
    old = tokens.update(obtained_at=time.time() - 86395, expires_at=time.time() + 5)  # 5 s of 24 h left
    fresh = await asyncio.gather(*(tokens.access_token() for _ in range(5)))
    assert len(set(fresh)) == 1 and fresh[0] != old.access_token
    assert stack.requests("/oauth/token", "POST") == 2  # the grant, then exactly one refresh


async def test_a_refresh_token_nearing_expiry_is_reported_once(stack: Stack, http: Any) -> None:
    stack.sim.refresh_ttl_s = 86400.0  # one day left: inside the two-day warning
    await stack.connect()
    poller = stack.poller(http)
    await poller.poll_once()
    await poller.poll_once()
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
    task = asyncio.create_task(poller.run(stop))
    events = await collect(stack.bus, [stack.topics.events],
                           lambda ev: bool(of_type(ev, CONNECTION_REAUTHORIZATION_NEEDED)))
    stop.set()
    await asyncio.wait_for(task, 10)
    report = of_type(events, CONNECTION_REAUTHORIZATION_NEEDED)[0]
    assert report.json_data()["reason"] == "refresh_token_refused"
    assert _saved(stack).needs_reauthorization is True
    now = health.read(stack.settings.state_dir, "meditlink", stack.connection.id)
    assert now.status == "failing" and "ReauthorizationRequired" in (now.last_error or "")


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
    url = authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        return await browser.get(url)


def _pending(stack: Stack) -> list[Any]:
    return sorted((stack.settings.state_dir / "oauth-states").glob("*.json"))


async def test_a_redirect_without_state_is_refused_by_default(stack: Stack) -> None:
    stack.sim.echo_state = False
    answer = await _follow(stack)
    assert answer.status_code == 400 and answer.json()["error"] == "state_mismatch"
    assert "state" not in answer.request.url.params  # the simulator redirected with the code alone
    assert _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_redirect_without_state_binds_to_the_one_recent_authorization(stack: Stack) -> None:
    stack.sim.echo_state = False
    answer = await _follow(stack)
    assert answer.status_code == 200 and answer.json()["connected"] == stack.connection.id
    assert _saved(stack) is not None and _pending(stack) == []  # the authorization was used up


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_redirect_without_state_is_refused_when_no_authorization_is_recent(
        stack: Stack) -> None:
    stack.sim.echo_state = False
    async with httpx.AsyncClient(base_url=stack.receiver_url) as client:
        answer = await client.get("/oauth/meditlink/callback", params={"code": "x" * 32})
    assert answer.status_code == 400 and answer.json()["error"] == "state_missing"
    url = authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    started, = _pending(stack)
    started.write_text(json.dumps({**json.loads(started.read_text()), "created_at": time.time() - 360}))
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        answer = await browser.get(url)  # six minutes after it was started
    assert answer.status_code == 400 and answer.json()["error"] == "state_missing"
    assert _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_redirect_without_state_is_refused_when_two_authorizations_are_pending(
        stack: Stack) -> None:
    stack.sim.echo_state = False
    authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    answer = await _follow(stack)
    assert answer.status_code == 400 and answer.json()["error"] == "state_missing"
    assert _saved(stack) is None and stack.requests("/oauth/token", "POST") == 0
    assert _pending(stack) == []  # both dropped: an ambiguous pair is never bound later
    assert (await _follow(stack)).status_code == 200  # a single fresh authorization then works


@pytest.mark.parametrize("connection_options", STATELESS)
async def test_opted_in_a_wrong_state_is_still_refused(stack: Stack) -> None:
    authorize_url(stack.connection, stack.settings.state_dir, stack.settings.receiver.public_url)
    async with httpx.AsyncClient(base_url=stack.receiver_url) as client:
        answer = await client.get("/oauth/meditlink/callback", params={"code": "x" * 32, "state": "forged"})
    assert answer.status_code == 400 and answer.json()["error"] == "state_mismatch"
    assert _saved(stack) is None and len(_pending(stack)) == 1  # the real authorization is untouched
