"""A cancelled publish stays cancelled even when the broker connection fails at that very moment.

Python 3.11's `asyncio.wait_for` returns the inner result (here: raises the connection error) when the inner
call finished just as the outer task was cancelled, so the cancellation was lost: the spool's forwarder took
the error for one more outage, retried, and `SpoolingBus.close()` waited on it for ever (seen as a
120 s timeout of tests/bus/test_spool.py under load)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from bus.kafka import KafkaBus
from schemas.envelope import Envelope
from schemas.settings import KafkaSettings


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_publish_cancelled_as_the_producer_fails_to_start_ends_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = asyncio.Event()

    async def start(self: AIOKafkaProducer) -> None:
        failing.set()  # the caller is woken before the failure below is delivered to its awaiter
        raise KafkaConnectionError("refused")

    monkeypatch.setattr(AIOKafkaProducer, "start", start)
    bus = KafkaBus(KafkaSettings(bootstrap=f"127.0.0.1:{_dead_port()}", ack_timeout_s=1.0))
    event = Envelope(id="e-1", source="scanbridge/test/1", type="scan.notified", partitionkey="k", data={})
    publishing = asyncio.create_task(bus.publish("t", event))
    await failing.wait()
    publishing.cancel()
    async with asyncio.timeout(30):
        await asyncio.wait([publishing])
    assert publishing.cancelled(), f"the cancellation was lost: {publishing.exception()!r}"
    await bus.close()
