"""`bus.kafka`: where the brokers are, how scanbridge authenticates to them, and the topics it expects.

Security follows Kafka's own client settings ("Security" in the Kafka documentation):
`security_protocol` PLAINTEXT / SSL / SASL_PLAINTEXT / SASL_SSL, SASL mechanisms PLAIN and
SCRAM-SHA-256/512, TLS with a custom CA and an optional client certificate (mTLS). Secrets may come
from files (`sasl_password_file`, `ssl_key_password_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from schemas.section import Section

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PRODUCTION_REPLICATION = 3
PRODUCTION_MIN_INSYNC = 2


class KafkaSettings(Section):
    bootstrap: str = Field("127.0.0.1:9092", description="comma-separated host:port of some brokers")
    client_id: str = "scanbridge"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = Field(None, description="with SASL_PLAINTEXT / SASL_SSL")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(None, description="or sasl_password_file")
    ssl_cafile: Path | None = Field(None, description="PEM CA bundle the brokers' certificates chain to; "
                                    "default: the system's trust store")
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM) for mTLS")
    ssl_keyfile: Path | None = Field(None, description="its private key (PEM), if not in ssl_certfile")
    ssl_key_password: SecretStr | None = Field(
        None, description="if the key is encrypted; or ssl_key_password_file")
    ssl_check_hostname: bool = Field(True, description="the broker certificate must name the host dialled")
    compression: Literal["gzip", "lz4", "zstd", "snappy"] | None = Field(
        None, description='producer compression, "none" by default: records are small (a webhook\'s are '
        "~1 KB) and gzip cost ~4 % of the receiver's CPU for little (issue 16); lz4, zstd and snappy need "
        "the cramjam package")
    create_topics: bool = Field(
        True, description="create missing topics at start; false: only check they exist (managed Kafka)"
    )
    partitions: int = Field(6, ge=1, description="partitions of topics scanbridge creates, and expects")
    replication_factor: int | None = Field(
        None, ge=1, description=f"of topics scanbridge creates; default {PRODUCTION_REPLICATION}, "
        "or the number of brokers when fewer",
    )
    min_insync_replicas: int | None = Field(
        None, ge=1, description=f"min.insync.replicas of created topics; default {PRODUCTION_MIN_INSYNC}, "
        "or replication_factor - 1 when smaller (at least 1)",
    )
    ack_timeout_s: float = Field(10.0, gt=0, description="how long a publish waits for acks=all")
    linger_ms: int = Field(5, ge=0)
    assignment_timeout_s: float = Field(
        60.0, gt=0, description="how long a consumer waits for the group to assign it partitions"
    )

    @field_validator("compression", mode="before")
    @classmethod
    def _none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("none", "") else value

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        tls = self.security_protocol.endswith("SSL")
        if sasl:
            needed = ("sasl_mechanism", "sasl_username", "sasl_password")
            missing = [k for k in needed if getattr(self, k) is None]
            if missing:
                raise ValueError(f"security_protocol {self.security_protocol} needs {', '.join(missing)}")
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise ValueError(f"SASL settings are given but security_protocol is {self.security_protocol}: "
                             "use SASL_SSL (or SASL_PLAINTEXT)")
        if not tls and any((self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile, self.ssl_key_password)):
            raise ValueError(f"TLS settings are given but security_protocol is {self.security_protocol}: "
                             "use SSL or SASL_SSL")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile is given without ssl_certfile")
        if self.replication_factor and self.min_insync_replicas and \
                self.min_insync_replicas > self.replication_factor:
            raise ValueError("min_insync_replicas cannot exceed replication_factor")
        return self

    def hosts(self) -> list[str]:
        return [h.strip() for h in self.bootstrap.split(",") if h.strip()]
