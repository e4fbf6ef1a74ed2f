"""Deliveries to HTTP subscriptions: how many per second to a local endpoint, and the latency from a
webhook posted to the receiver to its `scan.notified` delivered to a subscriber (README "Benchmarks").

Endpoint (verifying every signature), receiver and deliverer each run in their own process; this process
publishes, posts and reads the endpoint's arrival times (one host, one clock).

- deliveries/s: EVENTS `order.updated` events over KEYS keys are on the bus before the deliverer starts;
  the rate is taken between the first and the last arrival. Its ceiling: the same number of signed POSTs
  sent straight to the endpoint by one httpx client, `max_in_flight` (16) at once — no bus, no store.
- latency: WEBHOOKS iTero notifications posted to the receiver at RATE per second; each one's latency runs
  from just before its POST to its delivery's arrival.

    python -m bench.delivery deliver CONFIG STATE_PATH KEY     (the deliverer child)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.common import HOST, background, free_port, percentile
from bench.stack import COMPANY_ID, StackConfig
from bus.factory import make_bus
from consumers.delivery.deliverer import Deliverer
from consumers.delivery.signing import headers, new_secret, payload
from schemas.delivery import DeliverySettings
from schemas.envelope import Envelope
from schemas.settings import StateSettings
from state.base import SigningSecret, Subscription
from state.factory import make_state_store


def _store(path: Path, key: str) -> Any:
    return make_state_store(StateSettings(path=path), keys=[key])


async def _deliver(config: StackConfig, state_path: Path, key: str) -> None:
    import logging

    from scanbridge.runtime import stop_event

    logging.basicConfig(filename=state_path.with_name("deliverer.log"), level=logging.INFO)

    settings = config.settings()
    bus = make_bus(settings.bus)
    store = _store(state_path, key)
    await bus.start()
    await store.start()
    try:
        deliverer = Deliverer(bus, store, settings.bus.topics, DeliverySettings(watch_interval_s=0.5))
        await deliverer.run(stop_event())
    finally:
        await store.close()
        await bus.close()


async def _setup(config: StackConfig, state_path: Path, key: str, url: str, secret: str, events: int,
                 keys: int) -> None:
    settings = config.settings()
    store = _store(state_path, key)
    await store.start()
    for sid, types in (("throughput", ("order.updated",)), ("latency", ("scan.notified",))):
        await store.subscriptions.add(Subscription(id=sid, url=url, secrets=(SigningSecret(secret),),
                                                   event_types=types, allow_private=True))
    await store.close()
    bus = make_bus(settings.bus)
    await bus.ensure_topics(settings.bus.topics.all())
    await bus.start()
    try:
        await asyncio.sleep(0.05)  # record times after the subscriptions' creation (ms clocks)
        await asyncio.gather(*(bus.publish(settings.bus.topics.events, Envelope(
            id=f"bench-{n}-{uuid.uuid4().hex[:8]}", source=f"scanbridge/itero/{COMPANY_ID}",
            type="order.updated",
            subject=f"rx{n % keys}", partitionkey=f"itero:{COMPANY_ID}:rx{n % keys}", data={"n": n},
        )) for n in range(events)))
    finally:
        await bus.close()


def _stats(stats_url: str) -> dict[str, Any]:
    return dict(httpx.get(stats_url, timeout=10.0).json())


def _wait_for(stats_url: str, count: int, timeout_s: float, field: str = "count") -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = _stats(stats_url)
        got = stats["count"] if field == "count" else len(stats[field])
        if got >= count or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def _rate(times: list[float]) -> float | None:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None


async def _ceiling(url: str, secret: str, events: int, concurrency: int) -> list[float]:
    """Signed POSTs straight to the endpoint (no bus, no store): returns the send-completion times."""
    done: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(events):
        queue.put_nowait(n)

    async def one(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            event = Envelope(id=f"ceiling-{n}-{uuid.uuid4().hex[:8]}", source="scanbridge/itero/1",
                             type="order.updated", partitionkey=f"k{n}", data={"n": n})
            body = payload(event)
            answer = await http.post(url, content=body, headers=headers(event.id, [secret], body,
                                                                          datetime.now(UTC)))
            answer.raise_for_status()
            done.append(time.time())

    async with httpx.AsyncClient(timeout=30.0) as http:
        await asyncio.gather(*(one(http) for _ in range(concurrency)))
    return done


async def _post_webhooks(hook: str, count: int, rate: float) -> dict[str, float]:
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30.0) as http:
        tasks = []
        start = time.monotonic()
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            rx_id = str(uuid.uuid4())
            sent[rx_id] = time.time()
            tasks.append(asyncio.create_task(http.post(
                hook, content=json.dumps({"Id": rx_id, "CompanyId": COMPANY_ID}),
                headers={"content-type": "application/json"})))
        for answer in await asyncio.gather(*tasks):
            answer.raise_for_status()
    return sent


def run(bootstrap: str, backend: str, events: int, keys: int, webhooks: int, rate: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="scanbridge-bench-delivery-"))
    config = StackConfig(backend=backend, workdir=str(tmp), bootstrap=bootstrap)
    path = config.dump(tmp / "stack.json")
    state_path, key, secret = tmp / "state.sqlite3", Fernet.generate_key().decode(), new_secret()
    endpoint_port, receiver_port = free_port(), free_port()
    url, stats_url = f"http://{HOST}:{endpoint_port}/hook", f"http://{HOST}:{endpoint_port}/stats"
    result: dict[str, Any] = {"backend": backend, "events": events, "keys": keys, "webhooks": webhooks,
                              "rate": rate}
    with background("bench.endpoint", [str(endpoint_port), secret],
                    ready_url=f"http://{HOST}:{endpoint_port}/healthz"):
        ceiling = asyncio.run(_ceiling(url, secret, events, DeliverySettings().max_in_flight))
        result["ceiling_per_s"] = _rate(ceiling)
        asyncio.run(_setup(config, state_path, key, url, secret, events, keys))
        before = _stats(stats_url)["count"]
        with background("bench.delivery", ["deliver", str(path), str(state_path), key], timeout_s=60), \
                background("bench.servers", ["receiver", str(path), str(receiver_port)],
                           ready_url=f"http://{HOST}:{receiver_port}/healthz"):
            stats = _wait_for(stats_url, before + events, timeout_s=600)
            times = [t for i, t in stats["arrivals"].items() if i.startswith("bench-")]
            result["delivered"] = len(times)
            result["deliveries_per_s"] = _rate(times)
            hook = f"http://{HOST}:{receiver_port}/hooks/itero/{config.webhook_token}"
            sent = asyncio.run(_post_webhooks(hook, webhooks, rate))
            stats = _wait_for(stats_url, webhooks, timeout_s=120, field="rx")
            latencies = [(stats["rx"][rx] - at) * 1000 for rx, at in sent.items() if rx in stats["rx"]]
            result.update(latency_n=len(latencies), p50_ms=percentile(latencies, 50),
                          p99_ms=percentile(latencies, 99), unverified=stats["unverified"])
    result["ratio"] = (result["deliveries_per_s"] / result["ceiling_per_s"]
                       if result.get("deliveries_per_s") and result.get("ceiling_per_s") else None)
    return result


if __name__ == "__main__":
    if sys.argv[1] == "deliver":
        asyncio.run(_deliver(StackConfig.load(Path(sys.argv[2])), Path(sys.argv[3]), sys.argv[4]))
