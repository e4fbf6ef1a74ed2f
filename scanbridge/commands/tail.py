"""`scanbridge tail`: print the events of a topic as JSON lines (patient fields shown only with --pii).

Read-only: a topic that does not exist is reported, not created or waited for. Inbound records are
the verbatim bytes a vendor sent: shown as text when they are UTF-8, else as base64, never a crash.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import typer

from bus.base import Bus
from scanbridge.reading import existing, reading_bus
from scanbridge.runtime import load_settings
from schemas.envelope import Envelope
from schemas.settings import Settings
from schemas.topics import Topics

_PII = frozenset({"patient", "vendor_record", "data_base64"})  # data_base64: a dead inbound body
HIDDEN = "[hidden: --pii]"
ALL = "all"


def register(app: typer.Typer) -> None:
    @app.command()
    def tail(
        topic: str = typer.Argument("events", help=f"{', '.join(Topics.model_fields)}, {ALL} or a topic"),
        count: int = typer.Option(0, help="stop after this many events (0: follow until Ctrl-C)"),
        from_start: bool = typer.Option(True, "--from-start/--new-only", help="read from the beginning"),
        timeout: float = typer.Option(0, help="stop after this many seconds (0: never)"),
        pii: bool = typer.Option(False, help="show patient fields, the vendor record and inbound bodies"),
    ) -> None:
        """Show what is on a topic (or on every scanbridge topic with `all`)."""
        settings = load_settings()
        try:
            seen = asyncio.run(_tail(settings, topic_names(settings, topic), count, from_start, timeout, pii))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        if count and seen < count:
            typer.echo(f"{seen} of {count} events within {timeout:g} s", err=True)
            raise typer.Exit(1)


def topic_names(settings: Settings, topic: str) -> list[str]:
    """`all`, a configured topic's short name (`events`), or a topic name as it is."""
    topics = settings.bus.topics
    if topic == ALL:
        return topics.all()
    return [getattr(topics, topic) if topic in Topics.model_fields else topic]


async def _tail(settings: Settings, names: list[str], count: int, from_start: bool, timeout: float,
                pii: bool) -> int:
    async with reading_bus(settings) as bus:
        present = await existing(bus, names)
        if not present:
            typer.echo(f"no topic {', '.join(names)} on this bus yet (nothing was published to it)", err=True)
            raise typer.Exit(1)
        seen = [0]
        try:
            async with asyncio.timeout(timeout or None):
                await _follow(bus, present, count, from_start, pii, seen)
        except TimeoutError:
            pass
        return seen[0]


async def _follow(bus: Bus, topics: list[str], count: int, from_start: bool, pii: bool,
                  seen: list[int]) -> None:
    consumer = bus.consumer(topics, f"tail-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        if not from_start:
            await consumer.seek_to_time(datetime.now(UTC))
        while count == 0 or seen[0] < count:
            for delivery in await consumer.poll(timeout_s=0.5):
                if count and seen[0] >= count:
                    break
                typer.echo(json.dumps(shown(delivery.event, pii), default=str))
                seen[0] += 1
    finally:
        await consumer.close()


def shown(event: Envelope, pii: bool) -> dict[str, Any]:
    """The event as a JSON object; without `pii`, patient fields, vendor records and inbound bodies are
    hidden at any depth (a dead letter carries its original event's data)."""
    out = event.model_dump(mode="json", exclude={"data"})
    if isinstance(event.data, bytes):
        if not pii:
            out["data"] = f"[verbatim inbound body, {len(event.data)} bytes, hidden: --pii]"
        else:
            try:
                out["data"] = event.data.decode("utf-8")
            except UnicodeDecodeError:
                out["data_base64"] = base64.b64encode(event.data).decode()
        return out
    out["data"] = event.data if pii else _hidden(event.data)
    return out


def _hidden(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: HIDDEN if k in _PII and v is not None else _hidden(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v) for v in value]
    return value
