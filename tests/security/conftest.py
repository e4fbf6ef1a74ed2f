"""Hostile vendor servers on loopback: two plain-http ones on two ports of one host, and an https one."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from simulators.threeshape import TlsFiles, write_tls_files
from tests.security.hostile import Hostile, create_app
from tests.servers import serve


@dataclass
class Server:
    url: str
    state: Hostile


@pytest.fixture
async def vendor() -> AsyncIterator[Server]:
    state = Hostile()
    async with serve(create_app(state)) as url:
        yield Server(url, state)


@pytest.fixture
async def other_port() -> AsyncIterator[Server]:
    """Another server on the same host (127.0.0.1), another port: another origin."""
    state = Hostile()
    async with serve(create_app(state)) as url:
        yield Server(url, state)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path / "tls")


@pytest.fixture
async def tls_vendor(tls_files: TlsFiles) -> AsyncIterator[Server]:
    state = Hostile()
    async with serve(create_app(state), ssl_certfile=str(tls_files.certfile),
                     ssl_keyfile=str(tls_files.keyfile)) as url:
        yield Server(url, state)


@pytest.fixture
async def http(tls_files: TlsFiles) -> AsyncIterator[httpx.AsyncClient]:
    """A client as `consumers.http.new_client` builds it, trusting the test CA."""
    context = ssl.create_default_context(cadata=tls_files.ca_pem.decode())
    async with httpx.AsyncClient(verify=context, follow_redirects=False, timeout=10.0) as client:
        yield client
