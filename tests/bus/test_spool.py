"""The spool: a publish succeeds while Kafka is down, and everything acknowledged reaches Kafka once."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bus.base import Bus, Delivery
from bus.errors import BusUnavailable
from bus.factory import make_bus
from bus.kafka import KafkaBus
from bus.local import LocalBus
from bus.spool import SpoolingBus
from scanbridge import log_repeats
from schemas.envelope import Envelope
from schemas.settings import BusSettings, KafkaSettings
from schemas.topics import Topics
from tests.kafka_broker import ROOT, SCRIPT


def _event(key: str, n: int) -> Envelope:
    return Envelope(id=f"{key}-{n}", source="scanbridge/test/1", type="scan.notified",
                    partitionkey=key, data={"n": n})


def _alive(pid: int) -> bool:
    """False once the process is gone or a zombie (its parent, the script, has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _read_all(bus: Bus, topic: str, want: set[str]) -> list[Delivery]:
    """Everything in `topic`: until every wanted id arrived and then the log ran dry."""
    consumer = bus.consumer([topic], "reader")
    await consumer.start()
    got: list[Delivery] = []
    try:
        async with asyncio.timeout(60):
            while True:
                batch = await consumer.poll(max_records=1000, timeout_s=1.0)
                got.extend(batch)
                if not batch and want <= {d.event.id for d in got}:
                    return got
    finally:
        await consumer.close()


async def test_a_publish_to_a_dead_primary_lands_in_the_spool_and_is_forwarded_in_order_later(
    kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path
) -> None:
    dead = KafkaSettings(bootstrap=f"127.0.0.1:{_free_port()}", ack_timeout_s=1.0, linger_ms=0)
    down = SpoolingBus(KafkaBus(dead), LocalBus(tmp_path / "spool.db"), retry_s=0.2)
    await down.start()
    try:
        await down.ensure_topics([topics.events])
        await down.publish(topics.events, _event("k", 0))
        await down.publish(topics.events, _event("k", 1))
        assert await down.pending() == 2
        assert await down.ready()  # the spool answers
    finally:
        await down.close()

    up = SpoolingBus(KafkaBus(kafka_settings), LocalBus(tmp_path / "spool.db"), retry_s=0.2)
    await up.start()
    try:
        await up.ensure_topics([topics.events])
        await up.publish(topics.events, _event("k", 2))  # queued behind the spooled two
        async with asyncio.timeout(30):
            while await up.pending():
                await asyncio.sleep(0.05)
        got = await _read_all(up, topics.events, {"k-0", "k-1", "k-2"})
    finally:
        await up.close()
    assert [d.event.id for d in got] == ["k-0", "k-1", "k-2"]


async def test_the_forwarder_reports_an_outage_once_per_interval_and_its_end_once(
    kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = KafkaSettings(bootstrap=f"127.0.0.1:{_free_port()}", ack_timeout_s=1.0, linger_ms=0)
    down = SpoolingBus(KafkaBus(dead), LocalBus(tmp_path / "spool.db"), retry_s=0.01, report_every_s=3600)
    with caplog.at_level(logging.INFO, logger="bus.spool"):
        await down.ensure_topics([topics.events])  # the primary is down: spooling from the start
        await down.start()
        try:
            assert down.degraded() == "spooling"
            await down.publish(topics.events, _event("k", 0))
            assert REGISTRY.get_sample_value("scanbridge_spool_events") == 1
            age = REGISTRY.get_sample_value("scanbridge_spool_oldest_age_seconds")
            assert age is not None and age >= 0
            async with asyncio.timeout(30):
                while down.counters["forward_failed"] < 20:
                    await asyncio.sleep(0.02)
        finally:
            await down.close()
    reports = [r.getMessage() for r in caplog.records if "unavailable for" in r.getMessage()]
    assert len(reports) == 1 and "1 events wait in the spool" in reports[0]
    assert any("not reachable at start" in r.getMessage() for r in caplog.records)

    caplog.clear()
    up = SpoolingBus(KafkaBus(kafka_settings), LocalBus(tmp_path / "spool.db"), retry_s=0.01)
    with caplog.at_level(logging.INFO, logger="bus.spool"):
        await up.ensure_topics([topics.events])
        await up.start()
        try:
            async with asyncio.timeout(30):
                while up.degraded() is not None:
                    await asyncio.sleep(0.02)
            assert REGISTRY.get_sample_value("scanbridge_spool_events") == 0
            assert REGISTRY.get_sample_value("scanbridge_spool_oldest_age_seconds") == 0
        finally:
            await up.close()
    assert await LocalBus(tmp_path / "spool.db").count() == 0


@dataclass
class Broker:
    """A broker of our own, stopped and restarted on the same port and data directory."""

    run_dir: Path
    port: int
    restarted: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        subprocess.run([str(SCRIPT), "start", str(self.run_dir), str(self.port)], check=True,
                       capture_output=True, timeout=300)

    def stop(self, kill: bool = False) -> None:
        """SIGTERM and wait, as `kafka.sh stop` does, or SIGKILL (a crash). A broker restarted here is
        our child, so we reap it."""
        running = [proc for proc in self.restarted if proc.poll() is None]
        if not running and not kill:
            subprocess.run([str(SCRIPT), "stop", str(self.run_dir)], check=True, capture_output=True,
                           timeout=90)
            return
        if not running:
            pid = int((self.run_dir / "broker.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        for proc in running:
            proc.kill() if kill else proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        (self.run_dir / "broker.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        """Start the stopped broker on its kept data and configuration.

        `kafka.sh start` on an existing DIR formats the store with a new cluster id, which Kafka
        refuses, so this runs the script's java command on the DIR's server.properties directly.
        """
        lib = SCRIPT.parent / "lib"
        with open(self.run_dir / "kafka.log", "ab") as out:
            proc = subprocess.Popen(
                ["java", "-Xms256m", "-Xmx512m", "-XX:+UseSerialGC", f"-Dkafka.logs.dir={self.run_dir}/logs",
                 f"-Dlog4j2.configurationFile={SCRIPT.parent / 'log4j2.properties'}",
                 "-cp", f"{lib}/*", "kafka.Kafka", str(self.run_dir / "server.properties")],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.restarted.append(proc)
        (self.run_dir / "broker.pid").write_text(f"{proc.pid}\n")
        subprocess.run([sys.executable, str(SCRIPT.parent / "wait_ready.py"), self.bootstrap, str(proc.pid),
                        "120"], check=True, timeout=150, cwd=ROOT)


@pytest.fixture
def own_broker() -> Iterator[Broker]:
    broker = Broker(Path(tempfile.mkdtemp(prefix="scanbridge-kafka-restart-")), _free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(broker.run_dir, ignore_errors=True)


@pytest.mark.slow  # a soak: its own broker, stopped and restarted under load (minutes on 2 cores)
@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
async def test_a_broker_restart_loses_no_acknowledged_event(own_broker: Broker, topics: Topics,
                                                             tmp_path: Path, crash: bool) -> None:
    settings = KafkaSettings(bootstrap=own_broker.bootstrap, partitions=3, ack_timeout_s=2.0, linger_ms=0)
    bus = SpoolingBus(KafkaBus(settings), LocalBus(tmp_path / "spool.db"), retry_s=0.5)
    await bus.ensure_topics([topics.events])
    await bus.start()
    sent: list[str] = []
    acked: list[str] = []
    stop = asyncio.Event()

    async def send(key: str) -> None:
        n = 0
        while not stop.is_set():
            event = _event(key, n)
            sent.append(event.id)
            try:
                await bus.publish(topics.events, event)
                acked.append(event.id)
            except BusUnavailable:
                pass
            n += 1
            await asyncio.sleep(0.005)

    senders = [asyncio.create_task(send(f"key{k}")) for k in range(4)]
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(own_broker.stop, crash)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(own_broker.restart)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*senders)
    try:
        async with asyncio.timeout(45):
            while await bus.pending():
                await asyncio.sleep(0.1)
        counters = dict(bus.counters)
        got = await _read_all(bus, topics.events, set(acked))
    finally:
        await bus.close()

    ids = [d.event.id for d in got]
    copies = Counter(ids)
    print(f"\nbroker {'crash' if crash else 'stop'} and restart: sent={len(sent)} acknowledged={len(acked)} "
          f"delivered={len(ids)} unique={len(copies)} duplicates={len(ids) - len(copies)} bus={counters}")
    assert counters.get("spooled", 0) > 0  # the broker really was down while events came in
    assert len(acked) == len(sent)  # with the spool, no publish failed
    assert set(copies) == set(acked)  # every acknowledged event arrived, and after dedup by id once
    for key in {d.event.partitionkey for d in got}:  # first copies keep each key's publish order
        firsts = list(dict.fromkeys(d.event.json_data()["n"] for d in got if d.event.partitionkey == key))
        assert firsts == sorted(firsts)


class _Count(logging.Filter):
    """Counts what reaches the handler before any other filter of it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        return True


@pytest.mark.slow  # about 40 s on 2 shared cores: a broker of its own, killed and restarted
async def test_a_broker_outage_writes_a_few_summarized_lines_not_a_flood(own_broker: Broker, topics: Topics,
                                                                         tmp_path: Path) -> None:
    """A consumer and the spool forwarder facing a dead broker (issue 10 item 14): before, every
    record was a line (a 12 s outage wrote ~72,000); now each kind is one line per 10 s."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    count = _Count()
    handler.addFilter(count)
    log_repeats.install(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    settings = KafkaSettings(bootstrap=own_broker.bootstrap, partitions=3, ack_timeout_s=1.0, linger_ms=0)
    bus = SpoolingBus(KafkaBus(settings), LocalBus(tmp_path / "spool.db"), retry_s=0.05)
    await bus.ensure_topics([topics.events])
    await bus.start()
    consumer = bus.consumer([topics.events], "flood")
    await consumer.start()
    try:
        await consumer.end_offsets()  # joined the group
        await asyncio.to_thread(own_broker.stop, True)
        for n in range(200):
            await bus.publish(topics.events, _event(f"k{n}", n))  # spooled; the forwarder keeps trying
        while count.seen < 300:  # the consumer and the forwarder keep failing
            with contextlib.suppress(Exception):
                await consumer.poll(timeout_s=0.1)
        lines = out.getvalue().splitlines()
        await asyncio.to_thread(own_broker.restart)  # the producer stops only after delivering
    finally:
        root.removeHandler(handler)
        await consumer.close()
        await bus.close()
    print(f"\nbroker down: {count.seen} records reached the handler, {len(lines)} lines written")
    assert len(lines) <= 30 < count.seen


def test_the_factory_puts_a_spool_in_front_of_kafka_only_when_asked(tmp_path: Path) -> None:
    settings = BusSettings(backend="kafka")
    assert isinstance(make_bus(settings, spool_path=tmp_path / "spool.db"), SpoolingBus)
    assert isinstance(make_bus(settings), KafkaBus)
    assert isinstance(make_bus(BusSettings(backend="local"), spool_path=tmp_path / "spool.db"), LocalBus)
