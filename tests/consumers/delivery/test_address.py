"""The SSRF guard of deliveries: which addresses are refused, at add time and at connect time; redirects
not followed; answers read within a byte cap and a deadline."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from consumers.delivery.address import check_endpoint, check_url, delivery_client, refusal
from consumers.delivery.errors import RetryLater, UnsafeEndpoint
from consumers.delivery.sender import Limits, retry_after, send
from consumers.delivery.signing import new_secret
from schemas.envelope import Envelope
from state.base import SigningSecret, Subscription
from tests.servers import serve

EVENT = Envelope(id="e1", source="scanbridge/itero/1", type="order.updated", partitionkey="k", data={"a": 1})


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"), ("192.168.0.10", "private"),
    ("172.16.5.4", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("::ffff:10.0.0.1", "private"), ("100.64.0.1", "not public"),
    ("224.0.0.1", "multicast"), ("fc00::1", "private"),
])
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("url", "says"), [
    ("https://10.0.0.7/hooks", "10.0.0.7 is private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("http://lab.example/hook", "must be https"),
    ("ftp://lab.example/hook", "must be https"),
    ("https://user:pw@lab.example/hook", "user:password"),
    ("https:///hook", "no host"),
])
def test_urls_refused_before_any_lookup(url: str, says: str) -> None:
    with pytest.raises(UnsafeEndpoint, match=says):
        check_url(url, allow_private=False)


async def test_a_host_name_that_resolves_to_a_private_address_is_refused() -> None:
    with pytest.raises(UnsafeEndpoint, match=r"localhost resolves to .*loopback"):
        await check_endpoint("https://localhost/hook", allow_private=False)
    await check_endpoint("http://localhost/hook", allow_private=True)  # explicitly allowed


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def hook(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(status_code=204)

    async def moved(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("/hook", status_code=307)

    async def huge(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100_000):  # 6.4 GB if anyone read it all
                if await request.is_disconnected():  # the client hung up: stop producing
                    return
                hits.append("chunk")
                yield b"x" * 65536

        return StreamingResponse(chunks(), status_code=200)

    async def silent(request: Request) -> Response:
        await request.body()
        while not await request.is_disconnected():  # never answers while the client waits
            await asyncio.sleep(0.05)
        return Response(status_code=204)

    app = Starlette(routes=[Route(f"/{name}", handler, methods=["POST"]) for name, handler in
                            (("hook", hook), ("moved", moved), ("huge", huge), ("silent", silent))])
    async with serve(app) as url:
        yield url, hits


def _sub(url: str, allow_private: bool = True) -> Subscription:
    return Subscription(id="s", url=url, secrets=(SigningSecret(new_secret()),), allow_private=allow_private)


LIMITS = Limits(timeout_s=5.0, max_response_bytes=64 * 1024)


async def test_the_guard_refuses_at_connect_time_and_sends_nothing(target: tuple[str, list[str]]) -> None:
    url, hits = target
    port = url.rsplit(":", 1)[1]
    async with delivery_client(allow_private=False, timeout_s=5.0) as http:
        for host in ("127.0.0.1", "localhost"):  # an address, and a name that resolves to one
            with pytest.raises(UnsafeEndpoint, match="loopback"):
                await send(http, _sub(f"http://{host}:{port}/hook", allow_private=False), EVENT, LIMITS)
    assert hits == []
    async with delivery_client(allow_private=True, timeout_s=5.0) as http:
        assert await send(http, _sub(f"{url}/hook"), EVENT, LIMITS) == 204
    assert hits == ["/hook"]


async def test_a_redirect_is_not_followed(target: tuple[str, list[str]]) -> None:
    url, hits = target
    async with delivery_client(allow_private=True, timeout_s=5.0) as http:
        with pytest.raises(RetryLater, match="307 redirect"):
            await send(http, _sub(f"{url}/moved"), EVENT, LIMITS)
    assert hits == ["/moved"]


async def test_an_answer_is_read_only_up_to_the_cap(target: tuple[str, list[str]]) -> None:
    url, hits = target
    async with delivery_client(allow_private=True, timeout_s=30.0) as http:
        assert await send(http, _sub(f"{url}/huge"), EVENT, LIMITS) == 200
    assert hits.count("chunk") < 2000  # far below the 100,000 chunks it would have sent


async def test_an_endpoint_that_does_not_answer_is_given_up_at_the_deadline(
        target: tuple[str, list[str]]) -> None:
    url, _ = target
    async with delivery_client(allow_private=True, timeout_s=30.0) as http:
        with pytest.raises(RetryLater, match=r"no answer within 0\.3 s"):
            await send(http, _sub(f"{url}/silent"), EVENT, Limits(timeout_s=0.3, max_response_bytes=1024))


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after("Mon, 02 Nov 2026 09:31:00 GMT", now) == 60.0
    assert retry_after("Mon, 02 Nov 2026 09:29:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None


async def test_client_has_no_redirects_no_proxies() -> None:
    async with delivery_client(allow_private=False, timeout_s=2.0) as http:
        assert http.follow_redirects is False and http.trust_env is False
        assert http.timeout == httpx.Timeout(2.0)
