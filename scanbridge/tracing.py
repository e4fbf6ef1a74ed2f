"""OpenTelemetry tracing (DESIGN.md §9, issue 14 item 3): off unless the standard `OTEL_*` variables ask.

On (`OTEL_TRACES_EXPORTER=otlp`, or an `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` set, and not
`OTEL_SDK_DISABLED=true`): spans go to an OTLP/HTTP collector configured by the exporter's own
`OTEL_EXPORTER_OTLP_*` variables; the receiver's requests (ASGI instrumentation, the layer Starlette's
instrumentation wraps) and every httpx call (the vendor APIs, downloads) are traced.

The trace context travels inside the events (schemas/tracecontext.py: the CloudEvents distributed-
tracing extension `traceparent`); the worker's span is a child of the event's. Off, nothing is added
to events and no span is made.

Privacy (DESIGN.md §8): every span's URL attributes and name lose their query string (pre-signed
download URLs carry signatures, OAuth redirects carry codes) and a webhook path's token is masked,
in one wrapper around the exporter (`Scrubbed`), so no exporter ever sees them raw.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from starlette.applications import Starlette

from schemas import tracecontext

_URL_KEYS = ("http.url", "url.full", "http.target", "url.path")
_HOOK_PATH = re.compile(r"(/hooks/[^/?#]+/)[^/?#]+")

_provider: TracerProvider | None = None


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OTEL_* variables ask for traces exported over OTLP."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if exporters:
        return "otlp" in exporters
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return any(environ.get(name) for name in endpoints)


def setup_from_env(process: str, environ: Mapping[str, str] = os.environ) -> bool:
    """At process start: turn tracing on with an OTLP/HTTP exporter if the environment asks; True if on."""
    if _provider is not None or not wanted(environ):
        return _provider is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over this default name.
    resource = Resource.create({"service.name": f"scanbridge-{process}"}) if not environ.get(
        "OTEL_SERVICE_NAME") else Resource.create()
    start(BatchSpanProcessor(Scrubbed(OTLPSpanExporter())), resource)
    return True


def start(processor: SpanProcessor, resource: Resource | None = None) -> None:
    """Trace into `processor`, whose exporter is wrapped in `Scrubbed` (tests give a simple processor
    over an in-memory exporter); instruments httpx globally."""
    global _provider
    stop()
    provider = TracerProvider(resource=resource or Resource.create())
    provider.add_span_processor(processor)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    tracecontext.use(provider)


def stop() -> None:
    """Tracing off again: httpx un-instrumented, pending spans exported."""
    global _provider
    if _provider is None:
        return
    tracecontext.use(None)
    HTTPXClientInstrumentor().uninstrument()
    _provider.shutdown()
    _provider = None


def enabled() -> bool:
    return _provider is not None


def instrument(app: Starlette) -> None:
    """A server span per request of `app` (not the probes nor /metrics) when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=_provider, exclude_spans=["receive", "send"],
                       excluded_urls="healthz,readyz,metrics")


def scrub_url(value: str) -> str:
    """A URL or path without query string or fragment, and with a webhook path's token masked."""
    parts = urlsplit(value)
    return _HOOK_PATH.sub(r"\1{token}", urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))


class Scrubbed(SpanExporter):
    """An exporter that hands `inner` each span with its URL attributes and name scrubbed (`scrub_url`)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([_scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _scrubbed(span: ReadableSpan) -> ReadableSpan:
    attributes = dict(span.attributes or {})
    for key in _URL_KEYS:
        if isinstance(attributes.get(key), str):
            attributes[key] = scrub_url(str(attributes[key]))
    attributes.pop("url.query", None)
    return ReadableSpan(
        name=_HOOK_PATH.sub(r"\1{token}", span.name.split("?", 1)[0]), context=span.context,
        parent=span.parent, resource=span.resource, attributes=attributes, events=span.events,
        links=span.links, kind=span.kind, status=span.status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )
