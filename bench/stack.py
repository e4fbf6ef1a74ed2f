"""Settings for the bench's scanbridge processes, built in each child from one small JSON config."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from schemas.settings import (
    BusSettings,
    IteroConnection,
    KafkaSettings,
    RetrySettings,
    Settings,
    StorageSettings,
    WebhookAuth,
    WorkerSettings,
)
from schemas.topics import Topics

COMPANY_ID = 4242  # the simulator's default practice


@dataclass
class StackConfig:
    """Everything a child needs to build the same Settings as its siblings."""

    backend: str  # "kafka" or "local"
    workdir: str
    bootstrap: str = ""
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    webhook_token: str = field(default_factory=lambda: uuid.uuid4().hex + uuid.uuid4().hex)
    sim_url: str = "http://127.0.0.1:9"  # not called on the webhook path
    access_token: str = "bench-access-token-not-used-by-the-receiver"  # noqa: S105 - a placeholder
    refresh_token: str = "bench-refresh-token-not-used-by-the-receiver"  # noqa: S105 - a placeholder

    def dump(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path) -> StackConfig:
        return cls(**json.loads(path.read_text()))

    @property
    def topics(self) -> Topics:
        prefix = f"bench-{self.suffix}"
        return Topics(inbound=f"{prefix}.inbound", events=f"{prefix}.events",
                      artifacts=f"{prefix}.artifacts", deadletter=f"{prefix}.deadletter")

    def toml(self, port: int) -> str:
        """The same settings as `settings()` as a configuration file for `scanbridge receiver` on `port`."""
        work = Path(self.workdir)
        topics = self.topics
        q = json.dumps  # a JSON string is a TOML basic string for these values
        lines = [
            f"state_dir = {q(str(work / 'state'))}",
            'log_level = "WARNING"',
            "[receiver]", 'host = "127.0.0.1"', f"port = {port}",
            "[bus]", f"backend = {q('kafka' if self.backend == 'kafka' else 'local')}",
            f"local_path = {q(str(work / 'bus.sqlite3'))}", f"spool_path = {q(str(work / 'spool.sqlite3'))}",
            "[bus.kafka]", f"bootstrap = {q(self.bootstrap or '127.0.0.1:9092')}",
            "[bus.topics]", *(f"{name} = {q(getattr(topics, name))}"
                              for name in ("inbound", "events", "artifacts", "deadletter")),
            "[storage]", f"root = {q(str(work / 'artifacts'))}",
            "[[itero]]", 'id = "bench-clinic"', f"company_id = {q(str(COMPANY_ID))}",
            f"base_url = {q(self.sim_url)}", f"token_url = {q(self.sim_url + '/oauth/token')}",
            f"access_token = {q(self.access_token)}", f"refresh_token = {q(self.refresh_token)}",
            f"webhook.token = {q(self.webhook_token)}",
        ]
        return "\n".join(lines) + "\n"

    def settings(self) -> Settings:
        """Production defaults (KafkaSettings, WorkerSettings) except where a bench must differ."""
        work = Path(self.workdir)
        bus = BusSettings(backend="kafka" if self.backend == "kafka" else "local",
                          kafka=KafkaSettings(bootstrap=self.bootstrap or "127.0.0.1:9092"),
                          local_path=work / "bus.sqlite3", topics=self.topics)
        connection = IteroConnection(
            id="bench-clinic", company_id=str(COMPANY_ID), webhook=WebhookAuth(token=self.webhook_token),
            base_url=self.sim_url, token_url=f"{self.sim_url}/oauth/token",
            access_token=self.access_token, refresh_token=self.refresh_token,
        )
        return Settings(
            bus=bus,
            storage=StorageSettings(root=work / "artifacts"),
            worker=WorkerSettings(group=f"bench-worker-{self.suffix}",
                                  retry=RetrySettings(initial_delay_s=0.2, max_delay_s=2.0)),
            state_dir=work / "state",
            log_level="WARNING",
            itero=[connection],
        )
