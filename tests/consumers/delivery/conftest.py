"""A deliverer on a real bus (embedded log, or Kafka for the ordering tests), a real state store, and
subscriber endpoints served over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.fernet import Fernet

from bus.base import Bus
from bus.kafka import KafkaBus
from bus.local import LocalBus
from consumers.delivery.deliverer import Deliverer
from consumers.delivery.signing import new_secret
from schemas.delivery import DeliverySettings
from schemas.envelope import Envelope
from schemas.settings import KafkaSettings, StateSettings
from schemas.topics import Topics
from state.base import SigningSecret, Subscription
from state.factory import make_state_store
from state.store import SqlStateStore
from tests.consumers.delivery.endpoint import Endpoint

FAST = {"initial_delay_s": 0.05, "max_delay_s": 0.2, "watch_interval_s": 0.1, "timeout_s": 5.0}


@dataclass
class Rig:
    bus: Bus
    store: SqlStateStore
    topics: Topics
    settings: DeliverySettings

    async def subscribe(self, url: str, secret: str, **fields: Any) -> Subscription:
        fields.setdefault("allow_private", True)  # the endpoints of these tests are on loopback
        subscription = Subscription(id=fields.pop("id", f"s-{uuid.uuid4().hex[:6]}"), url=url,
                                    secrets=(SigningSecret(secret),), **fields)
        assert await self.store.subscriptions.add(subscription)
        found = await self.store.subscriptions.get(subscription.id)
        assert found is not None
        return found

    async def publish(self, key: str, n: int, event_type: str = "order.updated", vendor: str = "itero",
                      topic: str | None = None) -> Envelope:
        event = Envelope(id=f"{key}-{n}-{uuid.uuid4().hex[:6]}", source=f"scanbridge/{vendor}/4242",
                         type=event_type, subject=key, partitionkey=key, data={"n": n, "key": key})
        await self.bus.publish(topic or self.topics.for_type(event_type), event)
        return event

    @contextlib.asynccontextmanager
    async def delivering(self, **overrides: Any) -> AsyncIterator[Deliverer]:
        settings = self.settings.model_copy(update=overrides)
        deliverer = Deliverer(self.bus, self.store, self.topics, settings)
        stop = asyncio.Event()
        task = asyncio.create_task(deliverer.run(stop))
        try:
            yield deliverer
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


@pytest.fixture(params=["local"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path, topics: Topics) -> AsyncIterator[Rig]:
    bus: Bus
    if request.param == "kafka":
        bus = KafkaBus(KafkaSettings(bootstrap=request.getfixturevalue("kafka_bootstrap"), partitions=3,
                                     ack_timeout_s=10.0, linger_ms=0))
    else:
        bus = LocalBus(tmp_path / "bus.sqlite3")
    await bus.ensure_topics(topics.all())
    await bus.start()
    store = make_state_store(StateSettings(path=tmp_path / "state.sqlite3"),
                             keys=[Fernet.generate_key().decode()])
    await store.start()
    settings = DeliverySettings(group_prefix=f"deliver-{uuid.uuid4().hex[:8]}-", **FAST)
    try:
        yield Rig(bus, store, topics, settings)
    finally:
        await store.close()
        await bus.close()


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint(secret=new_secret())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_on(app: Any, port: int) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1:`port` (a port chosen before, so an endpoint can come back on it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()

