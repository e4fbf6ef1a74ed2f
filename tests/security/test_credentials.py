"""A credential goes only to the exact origin (scheme, host, port) it belongs to, and never over plain
http when the vendor is configured with https (issue 10 item 4; DESIGN.md §5.6)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from consumers.errors import PlainHttpRefused
from consumers.itero import pairing
from consumers.itero.client import IteroClient
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import keeper, key_of
from consumers.origin import OriginScope, origin_of
from consumers.storage import FolderStore
from consumers.threeshape.client import build_http_client
from consumers.threeshape.tls import pinned_transport
from consumers.tokens import TokenKeepers
from schemas.settings import IteroConnection, MeditConnection, WebhookAuth
from simulators.threeshape import TlsFiles
from state.base import Credentials
from state.store import SqlStateStore
from tests.security.conftest import Server
from tests.security.hostile import Hostile, create_app
from tests.servers import serve

BEARER = "Bearer itero-secret-access"


def itero(base_url: str, store: SqlStateStore, http: httpx.AsyncClient) -> IteroClient:
    connection = IteroConnection(
        id="clinic-1", webhook=WebhookAuth(token="t" * 32), base_url=base_url,
        token_url=f"{base_url}/oauth/token", access_token="itero-secret-access", refresh_token="r",
        download_hosts=["127.0.0.1"],  # the same host as the API: only the port differs
    )
    return IteroClient(connection, http, pairing.keeper(TokenKeepers(store), connection))


async def medit(api_url: str, store: SqlStateStore, http: httpx.AsyncClient) -> MeditClient:
    connection = MeditConnection(id="lab-1", webhook=WebhookAuth(token="t" * 32), auth_url=api_url,
                                 api_url=api_url, client_id="medit-client-id", client_secret="s",
                                 download_hosts=["127.0.0.1"])
    now = time.time()
    await store.credentials.put(key_of(connection), Credentials(
        "medit-secret-access", "r", datetime.fromtimestamp(now + 86400, UTC),
        {"obtained_at": now, "group_uuid": "RC5EQVZJU18xNTQ4Mzc5OTMzODc0"}))
    return MeditClient(connection, http, keeper(TokenKeepers(store), connection))


def test_origins_compare_scheme_host_and_port_with_default_ports_made_explicit() -> None:
    assert origin_of("https://api.example/x") == origin_of("https://api.example:443/y")
    assert origin_of("http://api.example/x") == origin_of("http://api.example:80/")
    assert origin_of("https://api.example/x") != origin_of("http://api.example/x")
    assert origin_of("https://api.example/x") != origin_of("https://api.example:8443/x")
    assert origin_of("https://api.example/x") != origin_of("https://cdn.api.example/x")


async def test_itero_bearer_is_not_sent_to_another_port_of_the_api_host(
    vendor: Server, other_port: Server, tmp_path: Path, store: SqlStateStore
) -> None:
    async with httpx.AsyncClient() as http:
        client = itero(vendor.url, store, http)
        store = FolderStore(tmp_path / "store")
        await client.download(f"{vendor.url}/blob", store, "a.zip", max_bytes=1024, chunk_bytes=64)
        await client.download(f"{other_port.url}/blob", store, "b.zip", max_bytes=1024, chunk_bytes=64)
    assert vendor.state.authorizations() == [BEARER]
    assert other_port.state.authorizations() == [None]


async def test_itero_redirect_to_another_port_of_the_api_host_drops_the_bearer(
    vendor: Server, other_port: Server, tmp_path: Path, store: SqlStateStore
) -> None:
    async with httpx.AsyncClient() as http:
        client = itero(vendor.url, store, http)
        await client.download(f"{vendor.url}/hop?to={other_port.url}/blob", FolderStore(tmp_path / "s"),
                              "a.zip", max_bytes=1024, chunk_bytes=64)
    assert vendor.state.authorizations() == [BEARER]
    assert [s.raw_path for s in other_port.state.seen] == ["/blob"]
    assert other_port.state.authorizations() == [None]


async def test_an_https_to_http_redirect_is_refused_before_anything_is_sent(
    tls_vendor: Server, other_port: Server, http: httpx.AsyncClient, tmp_path: Path,
    store: SqlStateStore,
) -> None:
    client = itero(tls_vendor.url, store, http)
    plain = other_port.url  # http://127.0.0.1:<port>
    with pytest.raises(PlainHttpRefused):
        await client.download(f"{tls_vendor.url}/hop?to={plain}/blob", FolderStore(tmp_path / "s"), "a.zip",
                              max_bytes=1024, chunk_bytes=64)
    assert tls_vendor.state.authorizations() == [BEARER]
    assert other_port.state.seen == []


async def test_an_https_api_never_follows_a_returned_plain_http_link(
    tls_vendor: Server, other_port: Server, http: httpx.AsyncClient, tmp_path: Path,
    store: SqlStateStore,
) -> None:
    client = itero(tls_vendor.url, store, http)
    url = client.asset_url("42", "IDE", f"{other_port.url}/blob")
    assert url == f"{tls_vendor.url}/api/third-party/v2/order/42/download/IDE"  # the documented path


async def test_the_same_host_over_https_and_http_are_two_origins() -> None:
    scope = OriginScope(["https://api.example"], {"Authorization": "Bearer x"})
    assert scope.carries_secret("https://api.example:443/a")
    assert not scope.carries_secret("https://api.example:8443/a")
    with pytest.raises(PlainHttpRefused):
        scope.check("http://api.example/a")
    OriginScope(["http://127.0.0.1:8080"]).check("http://127.0.0.1:9090/a")  # configured http: allowed


async def test_medit_bearer_goes_to_the_api_origin_and_no_header_to_a_presigned_link(
    vendor: Server, other_port: Server, tmp_path: Path, store: SqlStateStore
) -> None:
    vendor.state.json["/v1/files/930449b1-76b4-479e-b1a7-a57e65d9d172"] = {"url": f"{other_port.url}/blob"}
    async with httpx.AsyncClient() as http:
        client = await medit(vendor.url, store, http)
        meta = await client.get_file("930449b1-76b4-479e-b1a7-a57e65d9d172", "stl")
        await client.download(meta["url"], FolderStore(tmp_path / "s"), "a.7z", max_bytes=1024,
                              chunk_bytes=64)
    api = vendor.state.seen[0].headers
    assert api["authorization"] == "Bearer medit-secret-access"
    assert api["x-meditlink-client-id"] == "medit-client-id"
    presigned = other_port.state.seen[0].headers
    assert not {"authorization", "x-meditlink-client-id", "x-meditlink-group-uuid"} & set(presigned)


async def test_medit_refuses_a_plain_http_presigned_link_when_its_api_is_https(
    tls_vendor: Server, other_port: Server, http: httpx.AsyncClient, tmp_path: Path,
    store: SqlStateStore,
) -> None:
    client = await medit(tls_vendor.url, store, http)
    with pytest.raises(PlainHttpRefused):
        await client.download(f"{other_port.url}/blob", FolderStore(tmp_path / "s"), "a.7z", max_bytes=1024,
                              chunk_bytes=64)
    assert other_port.state.seen == []


async def test_dental_desktop_basic_credentials_stay_on_the_configured_server(
    tls_vendor: Server, tls_files: TlsFiles
) -> None:
    """The Dental Desktop client's Basic credentials are scoped to the configured origin: a request sent
    anywhere else (here another port under the same CA) carries none."""
    other = Hostile()
    transport = await pinned_transport(tls_vendor.url, tls_files.ca_thumbprint)
    async with serve(create_app(other), ssl_certfile=str(tls_files.certfile),
                     ssl_keyfile=str(tls_files.keyfile)) as other_url:
        async with build_http_client(tls_vendor.url, transport, "Sam", "qwerty123") as http:
            await http.get("GetAvailableClientList")
            await http.get(f"{other_url}/blob")
    assert (tls_vendor.state.authorizations()[0] or "").startswith("Basic ")
    assert other.authorizations() == [None]
