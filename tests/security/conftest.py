"""Hostile vendor servers on loopback (two plain-http ones on two ports of one host, an https one) and a
receiver with every webhook route on the local bus."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.local import LocalBus
from scanbridge.receiving import create_app as create_receiver
from schemas.settings import BusSettings, IteroConnection, MeditConnection, Settings, WebhookAuth
from simulators.threeshape import TlsFiles, write_tls_files
from state.store import SqlStateStore
from tests.security.hostile import Hostile, create_app
from tests.servers import serve
from tests.shared import state_store


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


# -- the receiver on the local bus (a real SQLite log), with every webhook route configured ------------

TOKEN = secrets.token_urlsafe(32)
COMPANY_ID = "4242"


@dataclass
class Receiver:
    url: str
    bus: LocalBus
    settings: Settings
    http: httpx.AsyncClient  # one client for the module: building one per request costs ~50 ms

    async def published(self) -> int:
        """Records on every topic of the bus: unchanged by a refused request."""
        return await self.bus.count()


def receiver_settings(root: Path) -> Settings:
    common: dict[str, Any] = {"base_url": "http://127.0.0.1:1", "token_url": "http://127.0.0.1:1/t",
                              "access_token": "a", "refresh_token": "r", "poll": False}
    return Settings(
        bus=BusSettings(backend="local", local_path=root / "bus.sqlite3"),
        state_dir=root / "state",
        itero=[
            IteroConnection(id="clinic", company_id=COMPANY_ID, webhook=WebhookAuth(token=TOKEN), **common),
            IteroConnection(id="lab", vendor="align", webhook=WebhookAuth(token=TOKEN), **common),
        ],
        meditlink=[MeditConnection(id="medit", webhook=WebhookAuth(token=TOKEN), client_id="c",
                                   client_secret="s")],
    )


@pytest.fixture(scope="module")
async def receiver(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Receiver]:
    """One receiver per test module (property tests run many examples against it)."""
    settings = receiver_settings(tmp_path_factory.mktemp("receiver"))
    bus = LocalBus(settings.bus.local_path)
    await bus.ensure_topics(settings.bus.topics.all())
    app = create_receiver(settings, bus)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        yield Receiver(url, bus, settings, http)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStateStore]:
    """A state store of the test's own (the vendor clients' credentials)."""
    async with state_store(tmp_path / "state") as opened:
        yield opened
