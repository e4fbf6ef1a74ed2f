"""W3C trace context inside events: the CloudEvents distributed-tracing extension (`traceparent`,
`tracestate`; the Kafka binding carries them as `ce_traceparent`, `ce_tracestate`). EVENTS.md "the rest".

`event_context()` is what the event factory adds: the current span's context, nothing when tracing is off
(scanbridge/tracing.py turns it on with `use(provider)`). `handling()` is the worker's span around one
event, a child of the event's `traceparent`, so one trace runs from a webhook to `artifact.stored`.
Only trace context travels (no baggage: it could carry anything).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry.trace import SpanKind, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

CARRIED = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def use(provider: TracerProvider | None) -> None:
    """Trace into `provider` from now on; None: tracing off."""
    global _provider
    _provider = provider


def event_context() -> dict[str, str]:
    """The extension attributes of the current span's context; empty when tracing is off."""
    if _provider is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {key: value for key, value in carrier.items() if key in CARRIED}


@contextmanager
def handling(event_id: str, event_type: str, extensions: Mapping[str, str]) -> Iterator[None]:
    """The worker's span around one event, a child of its `traceparent` (a new trace without one).
    Attributes: the event id and type only (no order data, no patient data)."""
    if _provider is None:
        yield
        return
    parent = _PROPAGATOR.extract({k: v for k, v in extensions.items() if k in CARRIED})
    tracer = _provider.get_tracer("scanbridge.worker")
    with tracer.start_as_current_span(f"{event_type} process", context=parent, kind=SpanKind.CONSUMER,
                                      attributes={"messaging.message.id": event_id,
                                                  "cloudevents.event_type": event_type}):
        yield
