"""The iTero client sends its bearer token to the API hosts only: a returned link on one of the extra
`download_hosts` is fetched without it (README, "the bearer token is never sent to another host"), and
its 401 is an expired link, never a reason to un-pair the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from consumers.errors import LinkExpired
from consumers.itero import pairing
from consumers.itero.client import IteroClient
from consumers.storage import FolderStore
from consumers.tokens import TokenKeepers
from schemas.settings import IteroConnection, WebhookAuth
from state.store import SqlStateStore
from tests.shared import state_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStateStore]:
    async with state_store(tmp_path) as opened:
        yield opened


@pytest.fixture
def make_client(store: SqlStateStore) -> Callable[[list[httpx.Request], int], IteroClient]:
    return lambda seen, status=200: _client(store, seen, status)


def _client(store: SqlStateStore, seen: list[httpx.Request], status: int = 200) -> IteroClient:
    connection = IteroConnection(
        id="clinic-1", webhook=WebhookAuth(token="t" * 32), base_url="https://api.example",
        token_url="https://api.example/oauth/token", access_token="secret-access", refresh_token="r",
        download_hosts=["cdn.example"],
    )

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=b"PK\x05\x06" + b"\x00" * 18)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return IteroClient(connection, http, pairing.keeper(TokenKeepers(store), connection))


async def test_a_link_on_a_download_host_is_fetched_without_the_bearer_token(
        tmp_path: Path, make_client: Callable[..., IteroClient]) -> None:
    seen: list[httpx.Request] = []
    client = make_client(seen)
    store = FolderStore(tmp_path / "store")
    url = client.asset_url("42", "IDE", "https://cdn.example/signed/42.zip?sig=x")
    assert url.startswith("https://cdn.example/")
    await client.download(url, store, "a.zip", max_bytes=1024, chunk_bytes=64)
    assert "authorization" not in seen[-1].headers


async def test_a_download_from_the_api_host_carries_the_bearer_token(
        tmp_path: Path, make_client: Callable[..., IteroClient]) -> None:
    seen: list[httpx.Request] = []
    client = make_client(seen)
    store = FolderStore(tmp_path / "store")
    await client.download(client.asset_url("42", "IDE", None), store, "b.zip", max_bytes=1024, chunk_bytes=64)
    assert seen[-1].headers["authorization"] == "Bearer secret-access"


async def test_a_401_from_a_download_host_is_an_expired_link_not_a_refused_pairing(
        tmp_path: Path, make_client: Callable[..., IteroClient]) -> None:
    seen: list[httpx.Request] = []
    client = make_client(seen, 401)
    with pytest.raises(LinkExpired):
        await client.download("https://cdn.example/signed/42.zip", FolderStore(tmp_path / "store"), "c.zip",
                              max_bytes=1024, chunk_bytes=64)
