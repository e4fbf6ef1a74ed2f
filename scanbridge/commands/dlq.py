"""`scanbridge dlq list | show ID | retry ID|--all`: inspect dead letters and put them back on their topic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bus.base import Bus
from bus.deadletter import Entry, pending, read_entries, retry
from scanbridge.commands.replay import progress_bar
from scanbridge.reading import existing, reading_bus
from schemas.settings import Settings, kafka_bootstrap_from_env

T = TypeVar("T")
dlq = typer.Typer(no_args_is_help=True, help="Dead letters: list, show, retry.")


def _with_bus(work: Callable[[Bus, str], Awaitable[T]], *, writes: bool = False) -> T:
    """Run `work` on the bus; only a command that `writes` starts it (list and show create nothing)."""
    settings = kafka_bootstrap_from_env(Settings())

    async def run() -> T:
        async with reading_bus(settings) as bus:
            if writes:
                await bus.start()
            return await work(bus, settings.bus.topics.deadletter)

    return asyncio.run(run())


async def _entries(bus: Bus, topic: str) -> list[Entry]:
    """Every dead letter; none while the dead-letter topic does not exist yet."""
    if not await existing(bus, [topic]):
        return []
    with progress_bar("reading dead letters") as progress:
        return await read_entries(bus, topic, progress)


def _find(entries: list[Entry], ident: str) -> list[Entry]:
    found = [e for e in entries if e.matches(ident)]
    if not found:
        typer.echo(f"no dead letter {ident}", err=True)
        raise typer.Exit(1)
    return found


@dlq.command("list")
def list_() -> None:
    """One line per dead letter (no event data)."""
    entries = _with_bus(_entries)
    table = Table(title=f"{len(entries)} dead letters, {len(pending(entries))} not retried")
    for column in ("id", "event", "type", "topic", "reason", "attempts", "last attempt", "retried"):
        table.add_column(column, overflow="fold")
    for e in entries:
        o, attempts = e.letter.original, e.letter.attempts
        table.add_row(e.event.id, o.id, o.type, o.topic, e.letter.reason, str(len(attempts)),
                      attempts[-1].at.isoformat() if attempts else "",
                      ",".join(map(str, e.retried)) or "no")
    Console().print(table)


@dlq.command()
def show(ident: str = typer.Argument(..., metavar="ID", help="dead-letter id or original event id")) -> None:
    """Print dead letters as JSON, including the original event's data."""
    for e in _find(_with_bus(_entries), ident):
        typer.echo(json.dumps({"id": e.event.id, "retried": e.retried,
                               **e.letter.model_dump(mode="json")}, indent=2))


@dlq.command("retry")
def retry_(
    ident: str | None = typer.Argument(None, metavar="[ID]", help="dead-letter id or original event id"),
    all_: bool = typer.Option(False, "--all", help="every dead letter not retried yet"),
) -> None:
    """Publish dead events again on their original topic, marked `dlqretry=<n>`."""
    if (ident is None) == (not all_):
        raise typer.BadParameter("give an ID or --all")

    async def work(bus: Bus, topic: str) -> int:
        entries = await _entries(bus, topic)
        chosen = pending(entries) if all_ else _find(entries, ident or "")
        for entry in chosen:
            again = await retry(bus, topic, entry)
            typer.echo(f"retried {again.id} on {entry.letter.original.topic} "
                       f"(dlqretry={again.extensions['dlqretry']})")
        return len(chosen)

    typer.echo(f"{_with_bus(work, writes=True)} dead letters retried")


def register(app: typer.Typer) -> None:
    app.add_typer(dlq, name="dlq")
