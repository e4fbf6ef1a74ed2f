"""`scanbridge command send | show`: act on a vendor through the executor, and look a command up in the
command log (README "Acting on vendors")."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from bus.base import Bus
from scanbridge.runtime import load_settings, started_bus
from schemas.commands import COMMAND_MODELS
from schemas.commands.base import COMMAND_PREFIX, CommandData
from schemas.envelope import Envelope
from schemas.settings import Settings
from schemas.topics import COMMAND_FAILED, COMMAND_SUCCEEDED
from state.commandlog import CommandLog
from state.factory import make_state_store

command_app = typer.Typer(help="Commands to vendors: send one and wait for its result, or show one.")
EXIT_FAILED, EXIT_TIMEOUT, EXIT_INVALID = 1, 3, 2


def register(app: typer.Typer) -> None:
    app.add_typer(command_app, name="command")


def _data(text: str) -> dict[str, Any]:
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("--data must be a JSON object")
    return value


def build(event_type: str, connection: str, data: dict[str, Any], command_id: str | None) -> Envelope:
    """The command event: validated here first, so a typo is told at once rather than dead-lettered."""
    if not event_type.startswith(COMMAND_PREFIX):
        event_type = COMMAND_PREFIX + event_type
    model = COMMAND_MODELS.get(event_type)
    if model is None:
        raise ValueError(f"unknown command type {event_type!r}; known: {', '.join(sorted(COMMAND_MODELS))}")
    command: CommandData = model.model_validate(
        {**data, "connection": connection, "command_id": command_id or str(uuid.uuid4())})
    return Envelope(id=str(uuid.uuid4()), source="scanbridge/cli", type=event_type, subject=command.subject(),
                    partitionkey=command.partition_key(), data=command.model_dump(mode="json"))


@command_app.command()
def send(
    command_type: str = typer.Argument(..., help="e.g. meditlink.accept_order (or command.meditlink.…)"),
    connection: str = typer.Option(..., "--connection", help="the connection id the command targets"),
    data: str = typer.Option("{}", "--data", help="the command's fields: JSON, or @file.json"),
    command_id: str | None = typer.Option(None, "--command-id", help="idempotency key (default: new UUID)"),
    topic: str | None = typer.Option(None, "--topic", help="a producer's own commands topic"),
    timeout: float = typer.Option(120.0, help="seconds to wait for the result (0: do not wait)"),
) -> None:
    """Publish a command and print its result event (command.succeeded / command.failed) when it comes."""
    settings = load_settings()
    try:
        event = build(command_type, connection, _data(data), command_id)
    except (ValueError, OSError, ValidationError) as exc:
        text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) \
            if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"scanbridge: {text}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    sent_id = str(event.json_data()["command_id"])
    result = asyncio.run(_send(settings, event, topic or settings.bus.topics.commands, timeout))
    if result is None:
        typer.echo(f"command {sent_id}: no result within {timeout:g} s "
                   f"(`scanbridge command show {sent_id}` tells where it is)", err=True)
        raise typer.Exit(EXIT_TIMEOUT if timeout else 0)
    typer.echo(json.dumps(result.model_dump(mode="json", exclude={"data"}) | {"data": result.data}))
    if result.type == COMMAND_FAILED:
        raise typer.Exit(EXIT_FAILED)


async def _send(settings: Settings, event: Envelope, topic: str, timeout: float) -> Envelope | None:
    async with started_bus(settings) as bus:
        if not timeout:
            await bus.publish(topic, event)
            return None
        return await _and_wait(bus, settings, event, topic, timeout)


async def _and_wait(bus: Bus, settings: Settings, event: Envelope, topic: str,
                    timeout: float) -> Envelope | None:
    consumer = bus.consumer([settings.bus.topics.events], f"command-cli-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    command_id = event.json_data()["command_id"]
    try:
        # a repeated command id is answered at once from the log: read from a little before we publish
        await consumer.seek_to_time(datetime.now(UTC) - timedelta(seconds=1))
        await bus.publish(topic, event)
        async with asyncio.timeout(timeout):
            while True:
                for delivery in await consumer.poll(timeout_s=0.5):
                    answer = delivery.event
                    if answer.type in (COMMAND_SUCCEEDED, COMMAND_FAILED) and isinstance(answer.data, dict) \
                            and answer.data.get("command_id") == command_id:
                        return answer
    except TimeoutError:
        return None
    finally:
        await consumer.close()


@command_app.command()
def show(command_id: str = typer.Argument(..., help="the command id")) -> None:
    """Print the command log's record of a command: its phase, what the vendor answered, its result."""

    async def read() -> dict[str, Any] | None:
        store = make_state_store(load_settings().state)
        await store.start()
        try:
            record = await CommandLog(store).get(command_id)
        finally:
            await store.close()
        return record.as_json() if record else None

    found = asyncio.run(read())
    if found is None:
        print(f"scanbridge: no command {command_id} in the command log", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED)
    typer.echo(json.dumps(found, indent=2, default=str))
