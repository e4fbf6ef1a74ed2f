"""Open a `DentalDesktopClient` for one configured server: pinned TLS pre-flight, then Basic auth
(3shape-dental-desktop-pms-integration.txt, "Security": certificate validation before credentials)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from consumers.threeshape.client import DentalDesktopClient, build_http_client
from consumers.threeshape.tls import pinned_transport
from schemas.settings import ThreeShapeConnection


def timeout_of(connection: ThreeShapeConnection) -> httpx.Timeout:
    return httpx.Timeout(connect=connection.connect_timeout_s, read=connection.read_timeout_s,
                         write=connection.connect_timeout_s, pool=connection.connect_timeout_s)


async def open_http(connection: ThreeShapeConnection) -> httpx.AsyncClient:
    """The pinned, authenticated HTTP client; raises `UntrustedServer` before any credentials leave."""
    url = connection.server_url()
    transport = await pinned_transport(
        url, connection.ca_thumbprint, timeout=connection.connect_timeout_s,
        check_hostname=connection.check_hostname,
        limits=httpx.Limits(max_connections=connection.max_concurrent_patients + 1),
    )
    return build_http_client(url, transport, connection.user, connection.password.get_secret_value(),
                             timeout=timeout_of(connection))


@asynccontextmanager
async def dental_desktop(connection: ThreeShapeConnection) -> AsyncIterator[DentalDesktopClient]:
    """A client for one use (CLI diagnostics); long-running callers keep `open_http` themselves."""
    async with await open_http(connection) as http:
        yield DentalDesktopClient(http)
