"""Worker and poller logs through the real formatter: every worker line names the event id and the
partition key; one INFO line per announced order and per stored artifact, without patient data; a
failing poll names its connection and the host it called."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from consumers.clock import ManualClock
from consumers.context import Shared
from consumers.http import new_client
from consumers.itero.poller import IteroPoller
from scanbridge import logs
from schemas.topics import ARTIFACT_STORED, SCAN_NOTIFIED
from simulators.itero.notify import post_notification
from tests.events import collect, of_type
from tests.itero.conftest import Stack, eventually
from tests.shared import runtime_of


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _lines(out: io.StringIO, prefix: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    return [r for r in records if r["event"].startswith(prefix)]


async def test_worker_lines_name_the_event_and_announce_orders_and_artifacts_once_each(
    stack: Stack, worker: object, json_log: io.StringIO
) -> None:
    order = stack.sim.add_order(size=20_000)
    await post_notification(stack.hook, order.rx_id, stack.sim.company_id)
    events = await collect(stack.bus, [stack.topics.events, stack.topics.artifacts],
                           lambda ev: len(of_type(ev, ARTIFACT_STORED)) >= 2)
    notified, = of_type(events, SCAN_NOTIFIED)
    announced = _lines(json_log, "order announced")
    stored = _lines(json_log, "artifact stored")
    assert len(announced) == 1 and len(stored) == 2
    expected = f"order announced: itero {stack.sim.company_id} order {order.order_id}, completed, 3 artifacts"
    assert announced[0]["event"] == expected
    assert {s["kind"] for s in stored} == {"scan_3d", "images"}
    for line in announced + stored:
        assert (line["event_id"], line["partition_key"]) == (notified.id, notified.partitionkey)
        assert line["level"] == "info"
    text = json_log.getvalue()
    assert not re.search(rf"\b({order.patient_first}|{order.patient_last})\b", text), "no patient name"


async def test_a_failing_poll_names_its_connection_and_host(stack: Stack, json_log: io.StringIO,
                                                           shared: Shared) -> None:
    good = stack.settings.itero[0]
    broken = good.model_copy(update={"id": "broken", "base_url": "http://127.0.0.1:9"})
    settings = stack.settings.model_copy(update={"itero": [broken]})
    stop = asyncio.Event()
    async with new_client(5.0) as http:
        poller = IteroPoller(settings, broken, stack.bus, http, clock=ManualClock(), shared=shared)
        runtime = runtime_of(shared, poller)
        running = asyncio.create_task(runtime.run(stop))
        await eventually(lambda: runtime.counters["errors"] == 1)
        stop.set()
        await running
    [failed] = _lines(json_log, "poll itero/broken")
    assert failed["event"].startswith("poll itero/broken (127.0.0.1) failed: ")
    assert (failed["level"], failed["host"], failed["connection"]) == ("warning", "127.0.0.1", "itero/broken")
