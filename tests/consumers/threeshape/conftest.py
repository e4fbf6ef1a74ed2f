"""A Dental Desktop simulator on real HTTPS loopback, and a client pinned to its test CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from consumers.threeshape.client import DentalDesktopClient, build_http_client
from consumers.threeshape.tls import pinned_transport
from simulators.threeshape import DentalDesktopState, TlsFiles, create_app, write_tls_files
from tests.servers import serve


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path / "tls")


@pytest.fixture
def state() -> DentalDesktopState:
    return DentalDesktopState(users={"Sam": "qwerty123"})


@pytest.fixture
async def server_url(state: DentalDesktopState, tls_files: TlsFiles) -> AsyncIterator[str]:
    async with serve(
        create_app(state), ssl_certfile=str(tls_files.certfile), ssl_keyfile=str(tls_files.keyfile)
    ) as url:
        yield url


@pytest.fixture
async def client(server_url: str, tls_files: TlsFiles) -> AsyncIterator[DentalDesktopClient]:
    transport = await pinned_transport(server_url, tls_files.ca_thumbprint)
    async with build_http_client(server_url, transport, "Sam", "qwerty123") as http:
        yield DentalDesktopClient(http)
