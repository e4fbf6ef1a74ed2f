"""How every aiokafka client connects — bootstrap, TLS, SASL — in one place, and why a connection failed.

aiokafka reports any bootstrap failure as "Unable to bootstrap from …" and only logs the cause; when a
client cannot start, `explain_failure` dials the brokers once more itself to name it: refused
credentials, an untrusted certificate, a missing client certificate, or no broker listening.
Kafka documentation: "Security" (SSL, SASL/PLAIN, SASL/SCRAM).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

from bus.errors import BusRefused, BusUnavailable
from schemas.kafkaconfig import KafkaSettings

PROBE_TIMEOUT_S = 5.0


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    """TLS 1.2+, trusting `ssl_cafile` (or the system store), presenting the client certificate if any."""
    cafile = str(settings.ssl_cafile) if settings.ssl_cafile else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile:
        password = settings.ssl_key_password.get_secret_value() if settings.ssl_key_password else ""
        try:  # a password is always passed, so OpenSSL never prompts on the terminal
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile, password=password)
        except ssl.SSLError as exc:
            hint = ("wrong ssl_key_password?" if settings.ssl_key_password
                    else "encrypted key: set ssl_key_password")
            raise BusRefused(f"cannot load the client certificate {settings.ssl_certfile} / key "
                             f"{settings.ssl_keyfile}: {exc.reason or exc.strerror} ({hint})") from None
    return context


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments shared by aiokafka's producer, consumer and admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.hosts(),
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(settings)
    if settings.security_protocol.startswith("SASL_"):
        assert settings.sasl_password is not None  # checked by KafkaSettings
        options.update(sasl_mechanism=settings.sasl_mechanism, sasl_plain_username=settings.sasl_username,
                       sasl_plain_password=settings.sasl_password.get_secret_value())
    return options


def _split(host: str) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    return name.strip("[]") or host, int(port or 9092)


async def explain_failure(settings: KafkaSettings, exc: BaseException) -> BusUnavailable:
    """The error to raise for a client that could not start: dials each broker and names the cause."""
    if isinstance(exc, BusUnavailable):
        return exc
    options = client_options(settings)
    causes: list[str] = []
    for host in settings.hosts():
        try:
            name, port = _split(host)
        except ValueError:
            return BusRefused(f"bus.kafka.bootstrap: {host!r} is not host:port")
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                conn = await create_conn(
                    name, port, client_id=settings.client_id, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000),
                    ssl_context=options.get("ssl_context"), security_protocol=settings.security_protocol,
                    sasl_mechanism=options.get("sasl_mechanism"), sasl_plain_username=settings.sasl_username,
                    sasl_plain_password=options.get("sasl_plain_password"))
        except (SaslAuthenticationFailed, UnsupportedSaslMechanismError) as refused:
            return BusRefused(
                f"kafka at {host} refused SASL {settings.sasl_mechanism} login of user "
                f"{settings.sasl_username!r}: {_broker_message(refused)}; "
                "check bus.kafka.sasl_username, sasl_password and sasl_mechanism")
        except ssl.SSLCertVerificationError as untrusted:
            reason = str(untrusted.verify_message)
            return BusRefused(
                f"kafka at {host}: TLS certificate not trusted ({reason}); set bus.kafka.ssl_cafile "
                "to the CA that issued the brokers' certificates"
                + (" or check the host name in bus.kafka.bootstrap" if "match" in reason else ""))
        except ssl.SSLError as tls:
            causes.append(f"{host}: TLS handshake failed ({tls.reason or tls})")
        except (KafkaError, OSError, TimeoutError) as other:
            causes.append(f"{host}: {_describe(other, settings)}")
        else:
            conn.close()
            causes.append(f"{host}: answers now")
    return BusUnavailable(f"kafka not usable ({type(exc).__name__}): " + "; ".join(causes))


def _broker_message(exc: KafkaError) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _describe(exc: BaseException, settings: KafkaSettings) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no broker listening there)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if "closed" in str(exc):
        if settings.security_protocol == "SSL" and not settings.ssl_certfile:
            return ("the broker closed the connection after the TLS handshake: does this listener require a "
                    "client certificate (bus.kafka.ssl_certfile)?")
        return (f"the broker closed the connection: is {settings.security_protocol} the protocol of this "
                "listener (bus.kafka.security_protocol)?")
    return f"{type(exc).__name__}: {exc}"
