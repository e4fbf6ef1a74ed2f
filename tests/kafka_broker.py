"""Start the project's own Kafka broker for a test session or a benchmark (or use KAFKA_BOOTSTRAP).

`secure_kafka_broker` starts one with SASL_SSL, SSL (mTLS) and SASL_PLAINTEXT listeners, its own CA and
PLAIN/SCRAM users (deploy/kafka/secure.py); KAFKA_SECURE_DIR names the folder of one already running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"


@dataclass(frozen=True)
class SecureBroker:
    """Where the secured listeners are and the material deploy/kafka/secure.py made for them."""

    folder: Path  # DIR/secure

    @property
    def listeners(self) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.folder / "listeners.json").read_text())
        return data

    def user(self, mechanism: str) -> str:
        users: dict[str, dict[str, str]] = json.loads((self.folder / "users.json").read_text())
        return next(u for u, e in users.items() if e["mechanism"] == mechanism)

    def password_file(self, user: str) -> Path:
        return self.folder / f"{user}.password"


def _start(run_dir: Path, env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(
            [str(SCRIPT), "start", str(run_dir), "0"],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **(env or {})},
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"could not start Kafka:\n{exc.stdout}\n{exc.stderr}") from exc
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def _own_broker(env: dict[str, str] | None = None) -> Iterator[tuple[Path, str]]:
    run_dir = Path(tempfile.mkdtemp(prefix="scanbridge-kafka-"))
    try:
        bootstrap = _start(run_dir, env)
        yield run_dir, bootstrap
    finally:
        subprocess.run([str(SCRIPT), "stop", str(run_dir)], check=False, timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)


@contextmanager
def kafka_broker() -> Iterator[str]:
    """Yield a bootstrap address. In CI a broker that cannot start fails the run; it never skips."""
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with _own_broker() as (_, bootstrap):
        yield bootstrap


@contextmanager
def secure_kafka_broker() -> Iterator[SecureBroker]:
    given = os.environ.get("KAFKA_SECURE_DIR")
    if given:
        _start(Path(given), {"KAFKA_SECURE": "1"})  # returns at once when it already runs
        yield SecureBroker(Path(given).resolve() / "secure")
        return
    with _own_broker({"KAFKA_SECURE": "1"}) as (run_dir, _):
        yield SecureBroker(run_dir / "secure")


async def create_limited_topic(bootstrap: str, topic: str, max_message_bytes: int,
                               partitions: int = 3) -> None:
    """Create `topic` whose broker refuses record batches over `max_message_bytes` (max.message.bytes)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1,
                                            topic_configs={"max.message.bytes": str(max_message_bytes)})])
    finally:
        await admin.close()
