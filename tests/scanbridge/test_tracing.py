"""Tracing's switch (the standard OTEL_* variables) and its URL scrubbing (scanbridge/tracing.py)."""

from __future__ import annotations

import pytest

from scanbridge import tracing
from schemas import tracecontext


@pytest.mark.parametrize(("environ", "on"), [
    ({}, False),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_TRACES_EXPORTER": "console,OTLP"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
])
def test_tracing_is_on_only_when_the_otel_variables_ask(environ: dict[str, str], on: bool) -> None:
    assert tracing.wanted(environ) is on


def test_setup_from_an_empty_environment_leaves_tracing_off() -> None:
    assert tracing.setup_from_env("worker", {}) is False
    assert not tracing.enabled() and tracecontext.event_context() == {}


@pytest.mark.parametrize(("url", "scrubbed"), [
    ("https://dl.example/o/1/scan.zip?X-Amz-Signature=abc&expires=9", "https://dl.example/o/1/scan.zip"),
    ("/hooks/itero/s3cr3t-token", "/hooks/itero/{token}"),
    ("http://127.0.0.1:8700/hooks/meditlink/tok?x=1#f", "http://127.0.0.1:8700/hooks/meditlink/{token}"),
    ("/oauth/meditlink/callback?code=c0de&state=s", "/oauth/meditlink/callback"),
    ("https://api.example/api/third-party/v2/orders/42", "https://api.example/api/third-party/v2/orders/42"),
])
def test_span_urls_lose_query_strings_and_webhook_tokens(url: str, scrubbed: str) -> None:
    assert tracing.scrub_url(url) == scrubbed
