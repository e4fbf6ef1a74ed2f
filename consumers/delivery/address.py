"""Which endpoints a delivery may reach (the SSRF guard of README "Delivering to HTTP endpoints").

An endpoint URL is http(s) without user-info; plain http only for a subscription allowed on private
networks. Its host must resolve to public addresses only: loopback, link-local (cloud metadata), private,
shared (CGNAT), multicast, reserved and unspecified addresses are refused unless the subscription (or the
deployment, `delivery.allow_private`) explicitly allows them.

The check is made where the connection is made (`GuardedBackend.connect_tcp`): the host is resolved once,
every address it resolves to is checked, and the socket goes to a checked address — a DNS answer that
changes between a check and the connect (rebinding) cannot slip through. TLS still verifies the
certificate for the URL's host name. Redirects are never followed and no proxy from the environment is
used (a proxy would make the connection on our behalf, unchecked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore
import httpx

from consumers.delivery.errors import UnsafeEndpoint

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: Address) -> str | None:
    """Why `address` is refused to a subscription not allowed on private networks; None when public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, hit in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                      ("unspecified", address.is_unspecified), ("multicast", address.is_multicast),
                      ("private", address.is_private), ("reserved", address.is_reserved)):
        if hit:
            return kind
    return None if address.is_global else "not public"


def check_url(url: str, *, allow_private: bool) -> str:
    """Refuse what is wrong with the URL itself (UnsafeEndpoint); returns its host."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeEndpoint(f"endpoint URL must be https (got {scheme or 'no'} scheme)")
    if scheme == "http" and not allow_private:
        raise UnsafeEndpoint("endpoint URL must be https (plain http only with --allow-private)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeEndpoint("endpoint URL must not carry user:password (deliveries are signed instead)")
    host = parts.hostname
    if not host:
        raise UnsafeEndpoint("endpoint URL has no host")
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and (why := refusal(literal)):
        raise UnsafeEndpoint(f"endpoint address {literal} is {why}; refused (allow it with --allow-private)")
    return host


async def resolve(host: str, port: int) -> list[Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve the endpoint host: {exc.strerror or exc}") from exc
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _refused(host: str, addresses: list[Address]) -> UnsafeEndpoint | None:
    bad = [(a, why) for a in addresses if (why := refusal(a))]
    if not bad:
        return None
    shown = ", ".join(f"{a} ({why})" for a, why in bad[:3])
    return UnsafeEndpoint(f"endpoint host {host} resolves to {shown}; refused "
                          "(allow it with --allow-private)")


async def check_endpoint(url: str, *, allow_private: bool) -> None:
    """The whole check before a subscription is added: the URL, then every address its host has now."""
    host = check_url(url, allow_private=allow_private)
    if allow_private:
        return
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    try:
        addresses = await resolve(host, port)
    except httpcore.ConnectError as exc:
        raise UnsafeEndpoint(str(exc)) from exc
    if (refused := _refused(host, addresses)) is not None:
        raise refused


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address check at connect time."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        if not self._allow_private and (refused := _refused(host, addresses)) is not None:
            raise refused
        error: Exception | None = None
        for address in addresses:  # the checked addresses, in the resolver's order
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address,
                                                     socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeEndpoint("unix sockets are not endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose every connection goes through `GuardedBackend`."""

    def __init__(self, *, allow_private: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True, http2=False, network_backend=GuardedBackend(allow_private=allow_private),
        )


def delivery_client(*, allow_private: bool, timeout_s: float,
                    max_connections: int = 64) -> httpx.AsyncClient:
    """The client deliveries go through: guarded addresses, no redirects, no proxies, explicit timeouts."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(transport=GuardedTransport(allow_private=allow_private, limits=limits),
                             follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout_s))
