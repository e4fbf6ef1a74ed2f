"""What a configuration amounts to, in a few lines an operator can check: backends, connections and
the hook URLs to give the vendors, with every token and password masked."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from schemas.settings import CONFIG_ENV, SECRETS_DIR_ENV, Settings, config_path, secrets_dir

MASK = "****"


def version() -> str:
    try:
        return package_version("scanbridge")
    except PackageNotFoundError:
        return "unknown"


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
    storage = settings.storage
    if storage.backend == "s3":
        where = mask_url(storage.s3.endpoint) if storage.s3.endpoint else f"AWS S3 {storage.s3.region}"
        prefix = f" prefix {storage.s3.prefix!r}" if storage.s3.prefix else ""
        return f"artifacts: s3 bucket {storage.s3.bucket!r}{prefix} at {where} (spool in {storage.root})"
    return f"artifacts: folder {storage.root}"


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


def hook_urls(settings: Settings) -> list[str]:
    base = settings.receiver.public_url.rstrip("/")
    return ([f"{base}/hooks/{c.vendor}/{MASK}" for c in settings.itero]
            + [f"{base}/hooks/meditlink/{MASK}" for c in settings.meditlink])


def startup_fields(settings: Settings, processes: list[str]) -> dict[str, object]:
    """What one process logs once at start (issue 14 item 4): backends, connections, hooks, ports."""
    ports: dict[str, str] = {}
    if "receiver" in processes:
        ports["receiver"] = f"{settings.receiver.host}:{settings.receiver.port}"
    elif settings.ops.port:
        ports["health_and_metrics"] = f"{settings.ops.host}:{settings.ops.port}"
    connections = ([f"{c.vendor} {c.id}" for c in settings.itero]
                   + [f"meditlink {c.id}" for c in settings.meditlink]
                   + [f"threeshape {c.id}" for c in settings.threeshape])
    return {
        "processes": processes,
        "bus": "; ".join(line.strip() for line in bus_lines(settings)).removeprefix("bus: "),
        "state": state_line(settings).removeprefix("state: "),
        "artifacts": artifact_line(settings).removeprefix("artifacts: "),
        "connections": connections,
        "hooks": hook_urls(settings) if "receiver" in processes else [],
        "ports": ports,
    }
