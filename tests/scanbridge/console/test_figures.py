"""The overview's figures from the Prometheus metrics (scanbridge/console/figures.py)."""

from __future__ import annotations

from receiver.metrics import WEBHOOKS
from scanbridge.console.figures import Figures
from tests.scanbridge.console.conftest import Clock


async def test_webhooks_per_minute_come_from_two_readings_a_minute_apart() -> None:
    clock = Clock()
    figures = Figures([], clock)
    first = await figures.read()
    assert figures.per_minute(first).get("itero") is None  # one reading: no rate yet
    WEBHOOKS.labels(vendor="itero", status="202").inc(45)
    WEBHOOKS.labels(vendor="itero", status="401").inc(15)
    clock.now += 120
    second = await figures.read()
    assert second.webhooks["itero"] - first.webhooks.get("itero", 0) == 60
    assert second.rejected["itero"] - first.rejected.get("itero", 0) == 15
    assert figures.per_minute(second)["itero"] == 30.0


async def test_an_unreadable_metrics_page_is_named_not_fatal() -> None:
    figures = Figures(["http://127.0.0.1:9/metrics"], Clock(), local=False)
    reading = await figures.read()
    assert reading.unreadable == ["http://127.0.0.1:9/metrics"] and reading.sources == 0
