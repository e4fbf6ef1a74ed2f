"""One trace from an iTero webhook through the worker's vendor calls to `artifact.stored`
(scanbridge/tracing.py, schemas/tracecontext.py; issue 14 item 3), on both bus backends: the events
carry `traceparent` (Kafka: the `ce_traceparent` header; the local bus: the same binding in SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from bus.base import Bus
from bus.kafka import KafkaBus
from bus.local import LocalBus
from scanbridge import tracing
from schemas.envelope import Envelope
from schemas.settings import KafkaSettings
from schemas.topics import ARTIFACT_STORED, INBOUND_RECEIVED, SCAN_NOTIFIED, Topics
from simulators.itero.notify import post_notification
from tests.events import collect, of_type
from tests.itero.conftest import Stack


@pytest.fixture(params=["local", "kafka"])
async def kafka_bus(request: pytest.FixtureRequest, tmp_path: Path, kafka_settings: KafkaSettings,
                    topics: Topics) -> AsyncIterator[Bus]:
    """The stack's bus: the embedded one, then Kafka (this module overrides the conftest's fixture)."""
    bus: Bus = LocalBus(tmp_path / "bus.sqlite3") if request.param == "local" else KafkaBus(kafka_settings)
    await bus.ensure_topics(topics.all())
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory (before the stack: the receiver and the worker's client see it on)."""
    exporter = InMemorySpanExporter()
    tracing.start(SimpleSpanProcessor(tracing.Scrubbed(exporter)))
    yield exporter
    tracing.stop()


def _trace_id(event: Envelope) -> int:
    version, trace_id, _span_id, _flags = event.extensions["traceparent"].split("-")
    assert version == "00"
    return int(trace_id, 16)


async def test_one_trace_runs_from_the_webhook_through_the_worker_to_artifact_stored(
        spans: InMemorySpanExporter, stack: Stack, worker: object) -> None:
    stack.sim.signed_links = True  # download links carry a query string, which no span may record
    order = stack.sim.add_order(size=20_000)
    response = await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
    assert response.status_code == 202, response.text
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    inbound, = await collect(stack.bus, [stack.topics.inbound], lambda ev: len(ev) >= 1)
    assert inbound.type == INBOUND_RECEIVED
    notified, = of_type(events, SCAN_NOTIFIED)
    trace_id = _trace_id(notified)
    stored = of_type(events, ARTIFACT_STORED)
    assert {_trace_id(e) for e in [inbound, *stored]} == {trace_id}

    async with asyncio.timeout(30):  # the handling span ends after the order's last marker and its claim
        while not any(s.kind == SpanKind.CONSUMER for s in spans.get_finished_spans()):
            await asyncio.sleep(0.05)
    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    assert {s.context.trace_id for s in finished} == {trace_id}, [s.name for s in finished]
    server = [s for s in finished if s.kind == SpanKind.SERVER]
    assert [s.name for s in server] == ["POST /hooks/itero/{token}"]
    handling, = [s for s in finished if s.kind == SpanKind.CONSUMER]
    assert handling.parent is not None and handling.parent.span_id == int(
        notified.extensions["traceparent"].split("-")[2], 16)
    assert handling.attributes is not None and handling.attributes["messaging.message.id"] == notified.id
    # The worker's vendor calls (order, artifacts, downloads) are client spans under its handling span.
    vendor_calls = [s for s in finished if s.kind == SpanKind.CLIENT and s.parent is not None
                    and s.parent.span_id == handling.context.span_id]
    assert len(vendor_calls) >= 3
    assert any(e.extensions["traceparent"].split("-")[2] == format(handling.context.span_id, "016x")
               for e in stored)
    # Privacy: no webhook token, no query string (signed links) in any span's name or attributes.
    recorded = " ".join([s.name for s in finished]
                        + [str(v) for s in finished for v in (s.attributes or {}).values()])
    assert stack.token not in recorded
    assert "?" not in recorded and "expires" not in recorded


async def test_with_tracing_off_events_carry_no_trace_context(stack: Stack, worker: object) -> None:
    assert not tracing.enabled()
    order = stack.sim.add_order(size=20_000)
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    events += await collect(stack.bus, [stack.topics.inbound], lambda ev: len(ev) >= 1)
    assert events and all("traceparent" not in e.extensions and "tracestate" not in e.extensions
                          for e in events)
