"""Configuration: one settings object built at start-up from a TOML file and the environment.

Sources, highest priority first: environment variables (`SCANBRIDGE_…`, nested with `__`), secret
files in `SCANBRIDGE_SECRETS_DIR` (named like those variables), the TOML file named by
`SCANBRIDGE_CONFIG` (which must exist; default `scanbridge.toml` if there is one), then the defaults
here. Any secret `x` of a section may also be given as `x_file` (schemas/section.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, SecretStr, Tag, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import NestedSecretsSettingsSource

from schemas.commands.settings import CommandSettings
from schemas.delivery import DeliverySettings
from schemas.kafkaconfig import KafkaSettings
from schemas.section import Section
from schemas.topics import Topics

__all__ = ["KafkaSettings", "Settings"]

MIN_WEBHOOK_TOKEN_CHARS = 22  # 22 url-safe base64 characters carry 132 bits
MIN_HASH_KEY_CHARS = 32  # `scanbridge token` prints 43 (256 bits)
SECRETS_NOT_IN_TOML = (("privacy", "hash_key"), ("console", "session_key"))  # environment or secret file only
ALIGN_LAB_MIN_POLL_S = 120.0  # Align lab guideline §3.7.1: 120 s or more between calls to orders/lab


class BusSettings(Section):
    backend: Literal["kafka", "local"] = "local"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    local_path: Path = Path("var/bus.sqlite3")
    spool_path: Path | None = Field(
        Path("var/receiver-spool.sqlite3"),
        description="with Kafka: the receiver's fsynced spool while Kafka is unreachable (none: answer 503)",
    )
    topics: Topics = Field(default_factory=Topics)

    @field_validator("spool_path", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if value == "" else value


class ReceiverSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8700
    max_body_bytes: int = 64 * 1024
    public_url: str = Field(
        "http://127.0.0.1:8700", description="how vendors reach this receiver (callback URLs)"
    )


class OpsSettings(Section):
    """Where `scanbridge worker` and `scanbridge poller` serve /healthz, /readyz and /metrics (the
    receiver serves them on its own port, and so does `scanbridge run`)."""

    host: str = "127.0.0.1"
    port: int = Field(8710, ge=0, le=65535, description="0: serve nothing")


class RetrySettings(Section):
    """Backoff for a vendor call that is not ready, throttled or failing (per order, in the background)."""

    initial_delay_s: float = 15.0
    max_delay_s: float = 120.0
    not_ready_for_s: float = Field(
        1800.0, description="how long a 404-not-ready order is retried before it is dead-lettered"
    )
    server_error_for_s: float = 900.0
    storage_full_for_s: float = Field(
        6 * 3600.0, description="how long a full artifact store (ENOSPC/EDQUOT) is waited for, retrying "
        "every max_delay_s, before the order is dead-lettered"
    )
    request_timeout_s: float = 30.0


class VendorLimits(Section):
    """Bounds on every vendor call, so a broken or hostile vendor cannot hold a worker (DESIGN.md §5.4)."""

    call_deadline_s: float = Field(
        60.0, gt=0, description="an API call (connect, answer and body together) ends within this"
    )
    max_answer_bytes: int = Field(
        32 * 1024**2, gt=0, description="a JSON answer larger than this fails the order permanently"
    )
    download_min_bytes_per_s: float = Field(
        16 * 1024, ge=0, description="a download slower than this over a whole window is abandoned (0: off)"
    )
    download_window_s: float = Field(
        30.0, gt=0, description="the speed window; also how long a download may wait for its first bytes"
    )


class WorkerSettings(Section):
    group: str = "scanbridge-worker"
    max_in_flight: int = Field(64, description="orders worked on at once; the consumer waits beyond")
    claim_ttl_s: float = Field(30.0, gt=0, description="an order's claim (one worker at a time) lapses "
                               "this long after its holder stopped renewing it (renewed every third)")
    max_artifact_bytes: int = 4 * 1024**3
    download_chunk_bytes: int = 256 * 1024
    retry: RetrySettings = Field(default_factory=RetrySettings)
    limits: VendorLimits = Field(default_factory=VendorLimits)


class S3Settings(Section):
    """An S3-compatible bucket (AWS S3, MinIO, Ceph, R2…). Credentials never come from here: they are
    read from the two files named below, or else from the environment (`AWS_ACCESS_KEY_ID`,
    `AWS_SECRET_ACCESS_KEY`) and the other places the AWS SDK looks (profile, instance role)."""

    endpoint: str | None = Field(None, description="endpoint URL; none: AWS S3 of `region`")
    bucket: str = ""
    region: str = "us-east-1"
    prefix: str = Field("", description="key prefix of every object, e.g. 'scanbridge/'")
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    access_key_id_file: Path | None = None
    secret_access_key_file: Path | None = None
    sse: Literal["AES256", "aws:kms"] | None = Field(None, description="server-side encryption")
    sse_kms_key_id: str | None = None
    storage_class: str | None = Field(None, description="e.g. STANDARD_IA; none: the bucket's default")
    part_size_bytes: int = Field(16 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3,
                                 description="multipart part size; smaller objects go in one PUT")
    max_parts_in_flight: int = Field(4, ge=1, description="part buffers uploading at once, store-wide")
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _both_key_files(self) -> S3Settings:
        if (self.access_key_id_file is None) != (self.secret_access_key_file is None):
            raise ValueError("name both access_key_id_file and secret_access_key_file, or neither "
                             "(then AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the SDK's other sources)")
        return self


class Subscriber(Section):
    """A downstream service allowed to fetch artifacts through the artifact route. Only the sha256 of
    its bearer token is configured (`scanbridge artifacts token NAME` makes a token and this line)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                      description="who, in the audit log")
    token_sha256: str = Field(description="hex sha256 of the subscriber's bearer token")

    @field_validator("token_sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        cleaned = value.strip().lower()
        if len(cleaned) != 64 or any(ch not in "0123456789abcdef" for ch in cleaned):
            raise ValueError("token_sha256 is 64 hexadecimal digits (the sha256 of the token)")
        return cleaned


class ArtifactRouteSettings(Section):
    """`scanbridge artifacts serve`: GET /artifacts/{artifact_id} for services without store credentials."""

    host: str = "127.0.0.1"
    port: int = Field(8703, ge=1, le=65535)
    subscribers: list[Subscriber] = Field(default_factory=list)
    presign_ttl_s: int = Field(300, ge=1, le=7 * 86400, description="S3: lifetime of the redirect URL")


class ConsoleAccount(Section):
    """An operator of the console. Only an argon2 hash of the password is configured
    (`scanbridge console hash-password` prints one)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$",
                      description="who, in the audit log")
    role: Literal["admin", "viewer"] = Field("viewer", description="viewer: reads only; admin: also changes")
    password_hash: str = Field(description="argon2 hash ($argon2id$…) of the password")

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError("password_hash is an argon2 hash ($argon2id$…): `scanbridge console "
                             "hash-password` makes one")
        return value


class ConsoleSettings(Section):
    """`scanbridge console` (and inside `scanbridge run`): the operator's web page (README "Console")."""

    host: str = "127.0.0.1"
    port: int = Field(8720, ge=0, le=65535, description="0: not inside `scanbridge run`")
    public_url: str | None = Field(None, description="the console's URL as browsers reach it (default: "
                                   "http://host:port); Medit Link authorizations come back here")
    admin_secret: SecretStr | None = Field(None, description="signs in as `admin` (give admin_secret_file)")
    accounts: list[ConsoleAccount] = Field(default_factory=list)
    session_ttl_s: float = Field(8 * 3600.0, gt=0, description="a sign-in lasts this long")
    session_key: SecretStr | None = Field(
        None, description="signs the session cookies: SCANBRIDGE_CONSOLE__SESSION_KEY or session_key_file, "
        "never the TOML; the same on every console replica. None: random per process (a restart signs "
        "everyone out)")
    secure_cookies: bool = Field(False, description="send the session cookie over HTTPS only (behind TLS)")
    sign_in_attempts: int = Field(5, ge=1, description="failed sign-ins per name or address before a pause")
    sign_in_window_s: float = Field(900.0, gt=0, description="the window failed sign-ins are counted in")
    metrics_urls: list[str] = Field(default_factory=list, description="other processes' /metrics pages "
                                    "the overview adds up (a console of its own reads no figures itself)")

    @field_validator("session_key")
    @classmethod
    def _long_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_HASH_KEY_CHARS:
            raise ValueError(f"the console session key must be at least {MIN_HASH_KEY_CHARS} characters; "
                             "make one with `scanbridge token`")
        return value

    def url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def enabled(self) -> bool:
        """Someone can sign in."""
        return self.admin_secret is not None or bool(self.accounts)


class StorageSettings(Section):
    backend: Literal["folder", "s3"] = "folder"
    root: Path = Field(Path("var/artifacts"),
                       description="folder backend: the artifacts; s3: markers and the local spool")
    s3: S3Settings = Field(default_factory=S3Settings)

    @model_validator(mode="after")
    def _bucket_named(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3.bucket:
            raise ValueError("storage.backend = 's3' needs storage.s3.bucket")
        return self


class RetentionSettings(Section):
    """How long what scanbridge keeps is kept (`scanbridge prune`; README "Retention"). None: forever."""

    artifacts_days: float | None = Field(None, gt=0, description="stored artifacts (folder or bucket)")
    markers_days: float | None = Field(
        None, gt=0, description="announcement markers; older ones let a redelivered order be announced again"
    )
    bus_log_days: float | None = Field(None, gt=0, description="records of the embedded bus log (local)")
    orders_index_days: float | None = Field(
        None, gt=0, description="the console's orders index: an order whose last event is older goes, with "
        "its timeline (the events stay on the bus)")
    audit_days: float | None = Field(None, gt=0, description="the console's audit log (the operator.action "
                                     "events stay on the bus)")


class StateSettings(Section):
    """The state store shared by every process and host (DESIGN.md §7; README "State store").

    The credentials key is never configuration: these name where it is (an environment variable, or a
    secret file), one or more Fernet keys, newest first."""

    backend: Literal["sqlite", "postgres"] = "sqlite"
    path: Path = Field(Path("var/state/state.sqlite3"),
                       description="the sqlite backend's file (one host); default: <state_dir>/state.sqlite3")
    dsn: SecretStr | None = Field(None, description="postgres: postgresql://user:password@host:port/db")
    max_connections: int = Field(10, ge=2, description="postgres: connection pool size per process")
    timeout_s: float = Field(10.0, gt=0, description="postgres: connect and pool wait timeout")
    reload_s: float = Field(5.0, gt=0, description="how often a running process looks for changed "
                            "connections (and retries a store that did not answer)")
    credentials_key_env: str = "SCANBRIDGE_CREDENTIALS_KEYS"
    credentials_key_file: Path | None = None


class EventLimits(Section):
    """Caps applied to `order.updated` before it is published, so a vendor's huge record or note cannot
    make an event the bus refuses (Kafka's default max.message.bytes is 1 MiB)."""

    max_vendor_record_bytes: int = Field(
        256 * 1024, gt=0, description="a larger vendor_record is replaced by a summary (its small top-level "
        "fields and a pointer to the inbound record)",
    )
    max_text_chars: int = Field(4096, gt=0, description="longer text fields (notes, names…) are cut")


class PrivacySettings(Section):
    """What events carry of patient data (DESIGN.md §5.5; README "Security").

    `hash` replaces each patient value by its HMAC-SHA256 under a deployment key. The key is never in
    the TOML file: it comes from the environment (`SCANBRIDGE_PRIVACY__HASH_KEY`) or from the secret
    file named by `hash_key_file` (read once, at start: `Section`)."""

    patient_fields: Literal["keep", "hash", "drop"] = "keep"
    hash_key: SecretStr | None = Field(
        None, description="HMAC key: SCANBRIDGE_PRIVACY__HASH_KEY, or hash_key_file naming a secret file"
    )

    @model_validator(mode="after")
    def _key(self) -> PrivacySettings:
        if self.hash_key is not None and len(self.hash_key.get_secret_value()) < MIN_HASH_KEY_CHARS:
            raise ValueError(f"the privacy hash key must be at least {MIN_HASH_KEY_CHARS} characters; "
                             "make one with `scanbridge token`")
        if self.patient_fields == "hash" and self.hash_key is None:
            raise ValueError('privacy.patient_fields = "hash" needs a key: set SCANBRIDGE_PRIVACY__HASH_KEY '
                             "or privacy.hash_key_file (see README, Security)")
        return self


class WebhookAuth(Section):
    """How a vendor callback proves it is ours: a secret path token, optionally an HMAC signature."""

    token: SecretStr
    hmac_secret: SecretStr | None = None
    hmac_header: str = "x-scanbridge-signature"

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_WEBHOOK_TOKEN_CHARS:
            raise ValueError(
                f"webhook token must be at least {MIN_WEBHOOK_TOKEN_CHARS} characters (128 bits); "
                "make one with `scanbridge token`"
            )
        return value


class IteroConnection(Section):
    """One paired iTero practice or Align lab account (itero-dpms-api.txt, Align guideline §3.2)."""

    id: str = Field(description="connection name, used in events as the account label")
    vendor: Literal["itero", "align"] = "itero"
    company_id: str | None = Field(None, description="CompanyId; notifications for others are refused")
    webhook: WebhookAuth
    base_url: str = Field(description="legacy {{baseUrl}}; endpoints under /api/third-party/v2")
    discovery_domain: str | None = Field(None, description="{{Domain}} returned by Discovery")
    discovery_path: str | None = Field(None, description="{{Path}} returned by Discovery")
    token_url: str = Field(description="pairing token endpoint used for the refresh-token exchange")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    access_token: SecretStr
    refresh_token: SecretStr
    download_hosts: list[str] = Field(
        default_factory=list, description="hosts downloads may come from; default: the API hosts"
    )
    poll: bool = Field(True, description="poll the order list as a safety net next to the webhook")
    poll_interval_s: float = Field(
        300.0, gt=0, description="seconds between polls; Align orders/lab at least 120 (guideline §3.7.1)"
    )
    poll_screen_captures: bool = Field(True, description="poll latest-files for screen captures taken later")
    lab_orders_url: str | None = Field(
        None, description="Align orders/lab URL (v1, not under the v2 root); "
        "default {{baseUrl}}/api/third-party/v1/orders/lab",
    )

    @model_validator(mode="after")
    def _lab_poll_floor(self) -> IteroConnection:
        if self.vendor == "align" and self.poll and self.poll_interval_s < ALIGN_LAB_MIN_POLL_S:
            raise ValueError(
                f"poll_interval_s of an Align lab connection must be at least {ALIGN_LAB_MIN_POLL_S:.0f} s "
                "(Align lab guideline §3.7.1)"
            )
        return self

    def api_root(self) -> str:
        if self.discovery_domain and self.discovery_path:
            return f"{self.discovery_domain.rstrip('/')}/{self.discovery_path.strip('/')}"
        return f"{self.base_url.rstrip('/')}/api/third-party/v2"

    def orders_url(self) -> str:
        """Where the poller lists orders: orders/lab (v1) for an Align lab, orders/practice for iTero."""
        if self.vendor == "align":
            return self.lab_orders_url or f"{self.base_url.rstrip('/')}/api/third-party/v1/orders/lab"
        return f"{self.api_root()}/orders/practice"


class AlignConnection(IteroConnection):
    """One Align lab account: the iTero API with the lab's order list (orders/lab v1) and its 120 s poll
    floor (Align guideline §3.2, §3.7.1). Its own model in the union of connection models."""

    vendor: Literal["align"] = "align"


def _itero_vendor(value: Any) -> str:
    """The discriminator of an `[[itero]]` entry: its `vendor`, "itero" when left out; a model given as it
    is stays what it is (an `IteroConnection(vendor="align")` built in code keeps working)."""
    if isinstance(value, dict):
        return str(value.get("vendor", "itero"))
    return "align" if isinstance(value, AlignConnection) else "itero"


IteroOrAlign = Annotated[
    Annotated[IteroConnection, Tag("itero")] | Annotated[AlignConnection, Tag("align")],
    Discriminator(_itero_vendor),
]


class PollerSettings(Section):
    """The polling safety net (itero-dpms-api.txt Get Orders for Practice, Get List of Screen Captures)."""

    enabled: bool = Field(True, description="run the pollers in `scanbridge run`")
    page_size: int = Field(1024, ge=1, le=1024, description="pageSize of order list calls (max 1024)")
    lookback_days: int = Field(30, ge=1, description="orders/practice dateFrom: scans of the last N days")
    capture_days: int = Field(14, ge=1, le=90, description="first latest-files window (vendor cap: 90 days)")
    lease_ttl_s: float = Field(
        30.0, ge=0.5, le=300.0, description="a connection's polling lease: renewed every third of it; when "
        "its poller instance dies, another takes the connection within this plus min(5 s, ttl/6)")


class MeditConnection(Section):
    """One Medit Link account (meditlink-openapi.txt §1 Authentication, §3 Resources, FAQ).

    Tokens are not configuration: `scanbridge connect meditlink` obtains them and keeps them (0600)
    under `state_dir/tokens/`, with the group uuid read once from `/v1/me`.
    """

    id: str = Field(description="connection name, used in logs and as the connection label")
    vendor: Literal["meditlink"] = "meditlink"
    webhook: WebhookAuth = Field(description="secret path token of the upload callback route")
    auth_url: str = Field("https://openapi-auth.meditlink.com",
                          description="authorization server: /oauth/authorize and /oauth/token")
    api_url: str = Field("https://openapi-resources.meditlink.com", description="resource server (/v1/…)")
    client_id: str
    client_secret: SecretStr
    redirect_uri: str | None = Field(
        None, description="registered callback URL; default: receiver.public_url + /oauth/meditlink/callback"
    )
    redirect_without_state: bool = Field(
        False, description="opt-in for a provider whose redirect does not echo `state` (§1.2.1 Step #3 "
        "shows `?code=` only): such a code is bound to the one authorization started for this connection "
        "in the last 5 minutes, and refused when there is none or more than one",
    )
    scopes: list[str] = Field(default_factory=lambda: ["USER", "GROUP", "CASE", "FILE", "ORDER"])
    file_types: list[str] = Field(default_factory=lambda: ["SCAN_DATA"],
                                  description="case file types to fetch (SCAN_DATA, ATTACHED_DATA, …)")
    skip_suffixes: list[str] = Field(default_factory=lambda: [".meditGroupInfo"],
                                     description="file names not worth fetching (FAQ: MEDITGROUPINFO)")
    conversion: Literal["original", "stl", "ply", "obj"] = "stl"
    extract: bool = Field(False, description="also unpack each verified 7z next to it")
    extract_max_bytes: int = 8 * 1024**3
    extract_max_members: int = 1000
    poll_interval_s: float = 300.0
    poll_overlap_s: float = Field(600.0, description="each order window starts this far before the last")
    poll_cases: bool = Field(True, description="also poll cases/search (new cases without an order)")
    case_horizon_days: float = Field(30.0, description="cases created this recently are watched for changes")
    reauthorize_warning_s: float = Field(
        2 * 86400.0, description="report a refresh token this close to its expiry (FAQ: 7 days)"
    )
    download_hosts: list[str] = Field(
        default_factory=list, description="hosts pre-signed URLs may point to (e.g. the S3 bucket host)"
    )


class ThreeShapeConnection(Section):
    """One clinic's 3Shape Dental Desktop server (3shape-dental-desktop-pms-integration.txt,
    "Integration implementation", "Security", "Concept of patient mapping", "/GetCasesForPatient")."""

    id: str = Field(description="connection name, used in events as the account label")
    vendor: Literal["3shape"] = "3shape"
    host: str = Field(description="the PC hosting the 3DD server (preferably its full domain name)")
    port: int = Field(5484, ge=1, le=65535)
    user: str = Field(description="a 3DD user (or its 3Shape Communicate account) for Basic auth")
    password: SecretStr
    ca_thumbprint: str = Field(
        "737842e3e3d642d39f93d8c2d84b2ef809cd571d",
        description="SHA-1 thumbprint of the CA, the last certificate of the chain (doc: Security)",
    )
    check_hostname: bool = Field(False, description="also check the server certificate names `host`")
    patients: list[str] = Field(
        default_factory=list, description="integration ids of the patients to watch (PMS patient ids)"
    )
    poll_interval_s: float = Field(60.0, gt=0, description="seconds between polls of an active patient")
    idle_poll_interval_s: float = Field(
        900.0, gt=0, description="seconds between polls of a patient without changes for idle_after_s"
    )
    idle_after_s: float = Field(7 * 86400.0, gt=0, description="no change this long: the patient is idle")
    creation_window_days: int = Field(
        90, ge=1, description="cases created this recently are watched (CreationDateFrom)"
    )
    delivery_window_days: int | None = Field(
        30, ge=1, description="also cases delivered from this many days back on (DeliveryDateFrom); "
        "None: the creation window only",
    )
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)
    patient_timeout_s: float = Field(60.0, gt=0, description="one patient's poll gives up after this")
    max_concurrent_patients: int = Field(4, ge=1, description="patients polled at once on this server")
    request_poll_s: float = Field(
        1.0, gt=0, le=30, description="commands: seconds between GetRequestStatusById reads of a request "
        "(the server keeps only the last 10 statuses)")
    request_timeout_s: float = Field(
        600.0, gt=0, description="commands: a request no 3DD client picked up by then is removed from the "
        "pool; one a client is still handling then ends as outcome_unknown")

    @field_validator("ca_thumbprint")
    @classmethod
    def _thumbprint(cls, value: str) -> str:
        cleaned = "".join(ch for ch in value if ch not in " :").lower()
        if len(cleaned) != 40 or any(ch not in "0123456789abcdef" for ch in cleaned):
            raise ValueError("ca_thumbprint is 40 hexadecimal digits (SHA-1)")
        return cleaned

    def server_url(self) -> str:
        return f"https://{self.host}:{self.port}"


CONFIG_ENV = "SCANBRIDGE_CONFIG"
SECRETS_DIR_ENV = "SCANBRIDGE_SECRETS_DIR"
DEFAULT_CONFIG = Path("scanbridge.toml")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConfigFileMissing(FileNotFoundError):
    """SCANBRIDGE_CONFIG (or --config) names a file that does not exist."""


def config_path() -> Path | None:
    """The TOML file to read: the one named by SCANBRIDGE_CONFIG (which must exist), else
    ./scanbridge.toml if there is one."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigFileMissing(f"{CONFIG_ENV} (or --config) names {path}, which "
                                    f"{'is not a file' if path.exists() else 'does not exist'}")
        return path
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def secrets_dir() -> Path | None:
    """SCANBRIDGE_SECRETS_DIR: a folder of secret files named like the environment variables, lower or
    upper case (`scanbridge_bus__kafka__sasl_password`), as Docker and Kubernetes mount them."""
    named = os.environ.get(SECRETS_DIR_ENV)
    return Path(named) if named else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCANBRIDGE_", env_nested_delimiter="__", extra="forbid", hide_input_in_errors=True,
    )

    bus: BusSettings = Field(default_factory=BusSettings)
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    artifacts: ArtifactRouteSettings = Field(default_factory=ArtifactRouteSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    events: EventLimits = Field(default_factory=EventLimits)
    state: StateSettings = Field(default_factory=StateSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    state_dir: Path = Path("var/state")
    log_level: LogLevel = "INFO"
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="auto: a readable console renderer on a terminal, JSON lines otherwise"
    )
    itero: list[IteroOrAlign] = Field(default_factory=list)
    poller: PollerSettings = Field(default_factory=PollerSettings)
    meditlink: list[MeditConnection] = Field(default_factory=list)
    threeshape: list[ThreeShapeConnection] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        folder = secrets_dir()
        if folder is not None:
            sources.append(NestedSecretsSettingsSource(
                file_secret_settings, secrets_dir=folder, secrets_dir_missing="error"))
        path = config_path()
        if path is not None:
            sources.append(_TomlWithoutSecrets(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _state_file_in_state_dir(self) -> Settings:
        """The SQLite state store lives in `state_dir` unless `state.path` says otherwise."""
        if "path" not in self.state.model_fields_set:
            self.state = self.state.model_copy(update={"path": self.state_dir / "state.sqlite3"})
        return self


class SecretInConfigFile(ValueError):
    """The TOML file holds a secret that belongs in the environment or a secret file."""


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    """The TOML file, refused when it holds a secret that belongs in the environment or a secret file."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for section, key in SECRETS_NOT_IN_TOML:
            table = data.get(section)
            if isinstance(table, dict) and key in table:
                raise SecretInConfigFile(f"{section}.{key} must not be in the TOML file: set "
                                 f"SCANBRIDGE_{section.upper()}__{key.upper()} or {section}.{key}_file")
        return data


def kafka_bootstrap_from_env(settings: Settings) -> Settings:
    """`KAFKA_BOOTSTRAP` (the convention of the test suite and the deploy script) selects Kafka."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    if not bootstrap:
        return settings
    bus = settings.bus.model_copy(
        update={"backend": "kafka", "kafka": settings.bus.kafka.model_copy(update={"bootstrap": bootstrap})}
    )
    return settings.model_copy(update={"bus": bus})
