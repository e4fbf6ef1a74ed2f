"""What a configuration amounts to, in a few lines an operator can check: backends, connections and
the hook URLs to give the vendors, with every token and password masked."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from schemas.settings import CONFIG_ENV, SECRETS_DIR_ENV, Settings, config_path, secrets_dir

MASK = "****"


def mask_url(url: str) -> str:
    """The URL with its password (if any) masked: postgresql://user:****@host/db."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _dsn(secret: SecretStr | None) -> str:
    return mask_url(secret.get_secret_value()) if secret is not None else "(no dsn)"


def bus_lines(settings: Settings) -> list[str]:
    bus = settings.bus
    if bus.backend == "local":
        return [f"bus: local (embedded log {bus.local_path})"]
    kafka = bus.kafka
    auth: str = kafka.security_protocol
    if kafka.sasl_mechanism:
        auth += f", {kafka.sasl_mechanism} as {kafka.sasl_username!r}"
    if kafka.ssl_cafile:
        auth += f", CA {kafka.ssl_cafile}"
    if kafka.ssl_certfile:
        auth += f", client certificate {kafka.ssl_certfile}"
    topics = "created when missing" if kafka.create_topics else "checked, never created"
    spool = f"; receiver spool {bus.spool_path}" if bus.spool_path else "; no receiver spool (503 while down)"
    return [f"bus: kafka at {kafka.bootstrap} ({auth})",
            f"  topics ({topics}, {kafka.partitions} partitions): {', '.join(bus.topics.all())}{spool}"]


def state_line(settings: Settings) -> str:
    state = settings.state
    if state.backend == "postgres":
        return f"state: postgres {_dsn(state.dsn)}"
    return f"state: sqlite {state.path}"


def artifact_line(settings: Settings) -> str:
    return f"artifacts: folder {settings.storage.root}"


def connection_lines(settings: Settings) -> list[str]:
    base = settings.receiver.public_url.rstrip("/")
    out: list[str] = []
    for itero in settings.itero:
        account = f", CompanyId {itero.company_id}" if itero.company_id else ""
        polling = f", polled every {itero.poll_interval_s:g} s" if itero.poll else ", not polled"
        out.append(f"  {itero.vendor} {itero.id!r}: API {itero.api_root()}{account}{polling}")
        out.append(f"    hook: {base}/hooks/{itero.vendor}/{MASK}")
    for medit in settings.meditlink:
        out.append(f"  meditlink {medit.id!r}: API {medit.api_url}, polled every {medit.poll_interval_s:g} s")
        out.append(f"    hook: {base}/hooks/meditlink/{MASK}")
        out.append(f"    OAuth redirect: {medit.redirect_uri or base + '/oauth/meditlink/callback'}")
    for three in settings.threeshape:
        out.append(f"  threeshape {three.id!r}: {three.server_url()} as {three.user!r}, "
                   f"{len(three.patients)} configured patients, CA pinned {three.ca_thumbprint[:8]}…")
    count = len(settings.itero) + len(settings.meditlink) + len(settings.threeshape)
    return [f"connections: {count}", *out]


def sources_line() -> str:
    path = config_path()
    variables = sorted(k for k in os.environ if k.upper().startswith("SCANBRIDGE_") and k.upper() not in
                       (CONFIG_ENV, SECRETS_DIR_ENV))
    folder = secrets_dir()
    return (f"config: {path or 'no file, defaults'}"
            + (f"; environment: {', '.join(variables)}" if variables else "")
            + (f"; secret files from {folder}" if folder else "")
            + ("; KAFKA_BOOTSTRAP set" if os.environ.get("KAFKA_BOOTSTRAP") else ""))


def summary(settings: Settings) -> list[str]:
    receiver = settings.receiver
    return [
        sources_line(),
        *bus_lines(settings),
        state_line(settings),
        artifact_line(settings),
        f"receiver: listens on {receiver.host}:{receiver.port}, reached by vendors at {receiver.public_url}",
        *connection_lines(settings),
        f"log level: {settings.log_level}",
    ]
