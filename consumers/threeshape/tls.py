"""Trust the Dental Desktop server only through its pinned certificate authority.

3shape-dental-desktop-pms-integration.txt, "Security" › "Certificate validation": the server is
accepted when the SHA-1 thumbprint of the certificate authority, the last certificate of its chain,
equals `737842e3e3d642d39f93d8c2d84b2ef809cd571d`; "Security protocol": the server speaks TLS 1.0 or
later. Public trust does not apply (the certificate is not issued by a public CA).

How (`pinned_ssl_context`, `pinned_transport`):

1. A pre-flight TLS handshake, without verification and without sending a single HTTP byte, reads
   the chain the server presents. The SHA-1 of its last certificate must equal the pinned
   thumbprint (constant-time comparison), else `UntrustedServer` and no HTTP client is ever built.
   Python 3.11 has no public call for the peer chain: the chain is read with the C method that
   Python 3.13 made public as `SSLObject.get_unverified_chain()` (private `_sslobj` on 3.10–3.12).
2. That certificate becomes the only trust anchor of the `ssl.SSLContext` httpx uses
   (CERT_REQUIRED, partial-chain allowed, no system CAs). OpenSSL then checks, during every
   handshake and so before any request and its Basic credentials are written, that the server's
   certificate chains up to that CA (signatures and validity dates).

Step 2 is what makes the pin safe: the CA certificate is public, so checking only the thumbprint of
a presented chain would accept an impostor who appends the genuine CA to a certificate of its own.

TLS versions: 1.2 and 1.3 only. The doc's "minimal supported ... TLS 1.0" is what the server
offers, not what a client must use; TLS 1.0/1.1 are deprecated (RFC 8996), refused by OpenSSL 3 at
its default security level, and Python warns when they are enabled. A 3DD server that speaks
nothing newer than TLS 1.1 is refused with a handshake error.

Host name: not checked by default, as in the doc's sample callback (the certificate is issued for
the PC, which PMS may reach by IP address or another name); `check_hostname=True` enforces it.

Limits: the pinned CA is trusted for any certificate it issued, i.e. any Dental Desktop server that
holds one (the doc's scheme, not ours to fix); a server that does not send its CA in the chain is
refused at pre-flight; a CA or server certificate with algorithms OpenSSL's default security level
refuses (SHA-1 signatures, RSA < 2048) fails step 2; no revocation checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
from contextlib import suppress
from typing import Any

import httpx

from consumers.errors import PermanentError, ServerError

DEFAULT_CA_THUMBPRINT = "737842e3e3d642d39f93d8c2d84b2ef809cd571d"
_DER = 2  # _ssl.ENCODING_DER


class UntrustedServer(PermanentError):
    """The server is not the pinned one: its CA thumbprint or chain does not match; nothing was sent."""


def normalize_thumbprint(value: str) -> str:
    """Lower-case hex without separators ("73 78 42…", "73:78:42…", "737842E3…" all accepted)."""
    cleaned = "".join(ch for ch in value if ch not in " :").lower()
    if len(cleaned) != 40 or any(ch not in "0123456789abcdef" for ch in cleaned):
        raise ValueError("a certificate thumbprint is 40 hexadecimal digits (SHA-1)")
    return cleaned


def sha1_thumbprint(der: bytes) -> str:
    """The Windows "Thumbprint": SHA-1 of the DER certificate (the doc pins by it; it only picks the
    trust anchor, whose signatures OpenSSL then checks)."""
    return hashlib.sha1(der).hexdigest()  # noqa: S324 - the doc's pin is a SHA-1 thumbprint


def _peer_chain(ssl_object: Any) -> list[bytes]:
    """The chain as the peer sent it, leaf first, DER encoded."""
    public = getattr(ssl_object, "get_unverified_chain", None)  # Python ≥ 3.13
    chain = public() if public is not None else ssl_object._sslobj.get_unverified_chain()
    return [c if isinstance(c, bytes) else c.public_bytes(_DER) for c in chain or ()]


async def presented_chain(host: str, port: int, *, timeout: float = 10.0) -> list[bytes]:
    """Handshake without verification and return the presented chain; no application data is sent."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.minimum_version = ssl.TLSVersion.TLSv1_2
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # only to read the chain; nothing is trusted from here
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=probe)
    except ssl.SSLError as exc:
        raise UntrustedServer(f"TLS handshake with {host}:{port} failed: {exc.reason}") from exc
    except (OSError, TimeoutError) as exc:
        raise ServerError(f"cannot reach {host}:{port}: {type(exc).__name__}") from exc
    try:
        return _peer_chain(writer.get_extra_info("ssl_object"))
    finally:
        writer.close()
        with suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def anchored_context(ca_der: bytes, *, check_hostname: bool = False) -> ssl.SSLContext:
    """An SSL context that trusts `ca_der` and nothing else."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the pinned CA need not be self-signed
    context.load_verify_locations(cadata=ca_der)
    return context


async def pinned_ssl_context(
    host: str,
    port: int,
    thumbprint: str = DEFAULT_CA_THUMBPRINT,
    *,
    timeout: float = 10.0,
    check_hostname: bool = False,
) -> ssl.SSLContext:
    """Pre-flight the server, check the pin, and return a context anchored on the pinned CA."""
    expected = normalize_thumbprint(thumbprint)
    chain = await presented_chain(host, port, timeout=timeout)
    if not chain:
        raise UntrustedServer(f"{host}:{port} presented no certificate")
    if not hmac.compare_digest(sha1_thumbprint(chain[-1]), expected):
        raise UntrustedServer(
            f"{host}:{port}: the last certificate of the presented chain is not the pinned CA"
        )
    return anchored_context(chain[-1], check_hostname=check_hostname)


async def pinned_transport(
    server_url: str,
    thumbprint: str = DEFAULT_CA_THUMBPRINT,
    *,
    timeout: float = 10.0,
    check_hostname: bool = False,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that only completes handshakes with servers under the pinned CA."""
    url = httpx.URL(server_url)
    if url.scheme != "https":
        raise ValueError("the Dental Desktop server URL must be https:// (Basic credentials)")
    context = await pinned_ssl_context(
        url.host, url.port or 443, thumbprint, timeout=timeout, check_hostname=check_hostname
    )
    return httpx.AsyncHTTPTransport(
        verify=context, retries=0, limits=limits or httpx.Limits(max_connections=4)
    )


def is_certificate_failure(exc: BaseException) -> bool:
    """True when a handshake failed because the certificate did not verify (anywhere in the causes)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
