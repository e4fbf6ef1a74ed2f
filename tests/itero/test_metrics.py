"""The metrics an order moves, read from the Prometheus registry before and after: webhook latency,
publish latency, download size and duration, orders in flight, consumer lag, token refreshes, poll
outcomes, dead letters and retries (issue 14 item 2). No label carries a token or patient data."""

from __future__ import annotations

import asyncio
import re
import time

from prometheus_client import REGISTRY, generate_latest

from consumers.clock import ManualClock
from consumers.context import Shared
from consumers.http import new_client
from consumers.itero.poller import IteroPoller
from schemas.envelope import Envelope
from schemas.topics import ARTIFACT_STORED
from simulators.itero.notify import post_notification
from tests.events import collect, of_type
from tests.itero.conftest import Stack, eventually
from tests.shared import runtime_of


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_one_order_moves_the_webhook_publish_download_lag_and_refresh_metrics(
    stack: Stack, worker: object
) -> None:
    group = stack.settings.worker.group
    before = {
        "webhook": value("scanbridge_webhook_seconds_count", vendor="itero", status="202"),
        "publish": value("scanbridge_publish_seconds_count", backend="kafka", outcome="ok"),
        "downloads": value("scanbridge_download_bytes_count", vendor="itero"),
        "bytes": value("scanbridge_download_bytes_sum", vendor="itero"),
        "seconds": value("scanbridge_download_seconds_count", vendor="itero"),
        "refresh": value("scanbridge_token_refreshes_total", vendor="itero", outcome="ok"),
    }
    stack.sim.expire_access_tokens()  # the worker's first call gets 401 and refreshes once
    order = stack.sim.add_order(size=30_000)
    assert (await post_notification(stack.hook, order.rx_id, stack.sim.company_id)).status_code == 202
    events = await collect(stack.bus, [stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    stored = [e.json_data() for e in of_type(events, ARTIFACT_STORED)]

    assert value("scanbridge_webhook_seconds_count", vendor="itero", status="202") == before["webhook"] + 1
    assert value("scanbridge_publish_seconds_count", backend="kafka", outcome="ok") >= before["publish"] + 4
    assert value("scanbridge_download_bytes_count", vendor="itero") == before["downloads"] + 2
    stored_bytes = sum(s["size"] for s in stored)
    assert value("scanbridge_download_bytes_sum", vendor="itero") == before["bytes"] + stored_bytes
    assert value("scanbridge_download_seconds_count", vendor="itero") == before["seconds"] + 2
    assert value("scanbridge_token_refreshes_total", vendor="itero", outcome="ok") == before["refresh"] + 1
    await eventually(lambda: value("scanbridge_orders_in_flight") == 0)

    def lags() -> list[float]:
        return [s.value for m in REGISTRY.collect() if m.name == "scanbridge_consumer_lag" for s in m.samples
                if s.labels["group"] == group]

    await eventually(lambda: bool(lags()) and all(v == 0 for v in lags()))  # it committed what it did
    text = generate_latest().decode()
    assert stack.token not in text
    assert not re.search(rf"\b({order.patient_first}|{order.patient_last})\b", text), "no patient name"


async def test_an_event_that_cannot_be_read_is_counted_as_a_dead_letter_by_its_error_class(
    stack: Stack, worker: object
) -> None:
    before = value("scanbridge_dead_letters_total", reason="ValidationError")
    broken = Envelope(id="broken-1", source="scanbridge/test", type="scan.notified", partitionkey="itero:1:x",
                      data={"vendor": "itero"})
    await stack.bus.publish(stack.topics.events, broken)
    await collect(stack.bus, [stack.topics.deadletter], lambda ev: len(ev) >= 1)
    await eventually(lambda: value("scanbridge_dead_letters_total", reason="ValidationError") == before + 1)


async def test_polls_count_their_outcome_per_connection_and_the_last_success_time(stack: Stack,
                                                                                   shared: Shared) -> None:
    good = stack.settings.itero[0]
    broken = good.model_copy(update={"id": "metrics-broken", "base_url": "http://127.0.0.1:9"})
    settings = stack.settings.model_copy(update={"itero": [broken, good]})
    clock, stop = ManualClock(), asyncio.Event()
    started = time.time()
    ok_before = value("scanbridge_polls_total", vendor="itero", connection=good.id, outcome="ok")
    async with new_client(5.0) as http:
        pollers = [IteroPoller(settings, c, stack.bus, http, clock=clock, shared=shared)
                   for c in (broken, good)]
        runtime = runtime_of(shared, *pollers)
        running = asyncio.gather(runtime.run(stop))
        await eventually(lambda: runtime.counters["errors"] == 1 and pollers[1].counters["polls"] == 1)
        stop.set()
        await running
    assert value("scanbridge_polls_total", vendor="itero", connection="metrics-broken", outcome="error") == 1
    assert value("scanbridge_polls_total", vendor="itero", connection=good.id, outcome="ok") == ok_before + 1
    last = value("scanbridge_poll_last_success_timestamp_seconds", vendor="itero", connection=good.id)
    assert last >= started
    assert REGISTRY.get_sample_value("scanbridge_poll_last_success_timestamp_seconds",
                                     {"vendor": "itero", "connection": "metrics-broken"}) is None
