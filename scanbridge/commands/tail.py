"""`scanbridge tail`: print the events of a topic as JSON lines (patient fields shown only with --pii)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import typer

from scanbridge.runtime import load_settings, started_bus

_PII = ("patient", "vendor_record")


def register(app: typer.Typer) -> None:
    @app.command()
    def tail(
        topic: str = typer.Argument("events", help="inbound, events, artifacts, deadletter, or a topic name"),
        count: int = typer.Option(0, help="stop after this many events (0: follow until Ctrl-C)"),
        from_start: bool = typer.Option(True, "--from-start/--new-only", help="read from the beginning"),
        timeout: float = typer.Option(0, help="give up after this many seconds (0: never)"),
        pii: bool = typer.Option(False, help="show patient fields and the vendor record"),
    ) -> None:
        """Show what is on a topic."""
        asyncio.run(_tail(topic, count, from_start, timeout, pii))


async def _tail(topic: str, count: int, from_start: bool, timeout: float, pii: bool) -> None:
    settings = load_settings()
    name = getattr(settings.bus.topics, topic, topic)
    async with started_bus(settings) as bus:
        consumer = bus.consumer([name], f"tail-{uuid.uuid4().hex[:8]}")
        await consumer.start()
        seen = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            if not from_start:
                await consumer.seek_to_time(datetime.now(UTC))
            while (count == 0 or seen < count) and (timeout == 0 or loop.time() - started < timeout):
                for delivery in await consumer.poll(timeout_s=0.5):
                    if count and seen >= count:
                        break
                    typer.echo(json.dumps(_shown(delivery.event.model_dump(mode="json"), pii), default=str))
                    seen += 1
        finally:
            await consumer.close()


def _shown(event: dict[str, Any], pii: bool) -> dict[str, Any]:
    data = event.get("data")
    if isinstance(data, dict) and not pii:
        event["data"] = {k: ("[hidden: --pii]" if k in _PII else v) for k, v in data.items()}
    elif not isinstance(data, dict) and not pii:
        event["data"] = "[verbatim inbound body hidden: --pii]"
    return event
