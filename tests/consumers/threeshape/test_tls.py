"""Pinning the server's CA by thumbprint (doc "Security" › "Certificate validation")."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from consumers.threeshape.client import DentalDesktopClient, build_http_client
from consumers.threeshape.tls import (
    DEFAULT_CA_THUMBPRINT,
    UntrustedServer,
    normalize_thumbprint,
    pinned_ssl_context,
    pinned_transport,
    presented_chain,
    sha1_thumbprint,
)
from simulators.threeshape import DentalDesktopState, TlsFiles, create_app, make_authority, write_tls_files
from tests.servers import serve


def _host_port(url: str) -> tuple[str, int]:
    parsed = httpx.URL(url)
    assert parsed.port is not None
    return parsed.host, parsed.port


async def test_the_server_presents_its_full_chain_ending_with_the_ca(
    server_url: str, tls_files: TlsFiles
) -> None:
    chain = await presented_chain(*_host_port(server_url))
    assert len(chain) == 2
    assert sha1_thumbprint(chain[-1]) == tls_files.ca_thumbprint


async def test_wrong_thumbprint_is_refused_before_any_request(
    server_url: str, state: DentalDesktopState
) -> None:
    with pytest.raises(UntrustedServer, match="not the pinned CA"):
        await pinned_transport(server_url, "00" * 20)
    assert state.requests == []


async def test_the_doc_thumbprint_is_the_default_and_refuses_a_test_ca(
    server_url: str, state: DentalDesktopState
) -> None:
    assert DEFAULT_CA_THUMBPRINT == "737842e3e3d642d39f93d8c2d84b2ef809cd571d"
    with pytest.raises(UntrustedServer):
        await pinned_transport(server_url)
    assert state.requests == []


async def test_right_thumbprint_connects_and_sends_credentials(
    client: DentalDesktopClient, state: DentalDesktopState
) -> None:
    clients = await client.get_available_clients()
    assert [c.hostname for c in clients] == ["UA-DTC-VHR"]
    assert [(r.method, r.authorized) for r in state.requests] == [("getavailableclientlist", True)]


async def test_thumbprint_is_accepted_in_windows_notation(server_url: str, tls_files: TlsFiles) -> None:
    spaced = " ".join(tls_files.ca_thumbprint[i : i + 2] for i in range(0, 40, 2)).upper()
    assert normalize_thumbprint(spaced) == tls_files.ca_thumbprint
    context = await pinned_ssl_context(*_host_port(server_url), spaced)
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_a_thumbprint_that_is_not_sha1_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="40 hexadecimal"):
        normalize_thumbprint("abc")


async def test_only_tls_1_2_and_later_is_offered(server_url: str, tls_files: TlsFiles) -> None:
    context = await pinned_ssl_context(*_host_port(server_url), tls_files.ca_thumbprint)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


async def test_plain_http_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="https"):
        await pinned_transport("http://127.0.0.1:5484")


async def test_an_impostor_appending_the_genuine_ca_is_refused_before_credentials(tmp_path: Path) -> None:
    """The CA certificate is public: a chain [own certificate, genuine CA] passes a thumbprint-only
    check, so the handshake itself must verify the chain against the pinned CA."""
    genuine = make_authority("genuine")
    files = write_tls_files(tmp_path, authority=genuine, signer=make_authority("impostor"))
    impostor = DentalDesktopState()
    app = create_app(impostor)
    async with serve(app, ssl_certfile=str(files.certfile), ssl_keyfile=str(files.keyfile)) as url:
        transport = await pinned_transport(url, genuine.thumbprint)  # the pre-flight pin matches
        async with build_http_client(url, transport, "Sam", "qwerty123") as http:
            with pytest.raises(UntrustedServer, match="not issued by the pinned CA"):
                await DentalDesktopClient(http).get_available_clients()
    assert impostor.requests == []


async def test_a_pinned_transport_refuses_a_server_under_another_ca(
    server_url: str, tls_files: TlsFiles, tmp_path: Path
) -> None:
    """If the configured host later resolves to another server, its handshake fails."""
    transport = await pinned_transport(server_url, tls_files.ca_thumbprint)
    other = DentalDesktopState()
    other_files = write_tls_files(tmp_path / "other")
    tls = {"ssl_certfile": str(other_files.certfile), "ssl_keyfile": str(other_files.keyfile)}
    async with serve(create_app(other), **tls) as url:
        async with build_http_client(url, transport, "Sam", "qwerty123") as http:
            with pytest.raises(UntrustedServer):
                await DentalDesktopClient(http).get_available_clients()
    assert other.requests == []


async def test_an_unreachable_server_is_retryable() -> None:
    from consumers.errors import RetryableError

    with pytest.raises(RetryableError):
        await pinned_transport("https://127.0.0.1:1", "00" * 20, timeout=2.0)
