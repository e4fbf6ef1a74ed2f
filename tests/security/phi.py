"""What the PHI attack tests share: capture every log line the service writes, read every topic, and
look for each patient value in all of it (issue 10, item 1)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bus.base import Bus
from scanbridge import logs
from schemas.envelope import Envelope
from schemas.settings import PrivacySettings
from schemas.topics import Topics
from tests.events import settle

DROP = PrivacySettings(patient_fields="drop")


@contextmanager
def service_logs(level: str = "INFO") -> Iterator[io.StringIO]:
    """The service's own log set-up (`scanbridge.logs.configure`) writing into a buffer; restored after."""
    root = logging.getLogger()
    quiet = ("aiokafka", "httpx", "uvicorn.access")
    before = (list(root.handlers), root.level, {name: logging.getLogger(name).level for name in quiet})
    buffer = io.StringIO()
    logs.configure(level, stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
        for name, old in before[2].items():
            logging.getLogger(name).setLevel(old)


async def every_event(bus: Bus, topics: Topics) -> list[Envelope]:
    """Everything published on every topic (inbound, events, artifacts, dead letters, commands)."""
    return await settle(bus, topics.all(), quiet_s=2.0)


def as_text(event: Envelope) -> str:
    raw = event.data.decode("utf-8", "replace") if isinstance(event.data, bytes) else ""
    return event.model_dump_json() + raw


async def metrics_of(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    return response.text


def leaks(values: list[str], *, events: list[Envelope], log_text: str, metrics: str) -> list[str]:
    """Where each patient value shows up ("<value> in <place>"), compared without regard to case."""
    places = {f"{e.type} event {e.id} on {e.partitionkey}": as_text(e) for e in events}
    places |= {"the logs": log_text, "the metrics": metrics}
    return [f"{value!r} in {place}" for value in values for place, text in places.items()
            if value.lower() in text.lower()]
