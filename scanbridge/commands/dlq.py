"""`scanbridge dlq list | show ID | retry ID|--all`: inspect dead letters and put them back on their topic."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import typer

from bus.base import Bus
from bus.deadletter import Entry, pending, read_entries, retry
from bus.replay import parse_source
from scanbridge.commands.replay import parse_time, progress_bar
from scanbridge.reading import existing, reading_bus
from schemas.settings import Settings, kafka_bootstrap_from_env

T = TypeVar("T")
IDENT_HELP = "dead-letter id (as listed, or a prefix of 6+) or original event id"
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


def parse_since(value: str) -> datetime:
    """An ISO 8601 time (UTC if no offset), or an age: `90m`, `12h`, `7d`."""
    if match := re.fullmatch(r"(\d+)\s*([mhd])", value.strip()):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return datetime.now(UTC) - timedelta(**{unit: int(match[1])})
    return parse_time(value)


def summary(entry: Entry) -> dict[str, Any]:
    """What `dlq list` shows of a dead letter (no event data)."""
    o, attempts = entry.letter.original, entry.letter.attempts
    vendor, account = parse_source(o.source)
    return {"id": entry.event.id, "label": entry.label, "first": entry.letter.first,
            "round": entry.letter.retries(), "original_id": o.id, "type": o.type, "topic": o.topic,
            "vendor": vendor, "account": account, "subject": o.subject, "reason": entry.letter.reason,
            "attempts": len(attempts), "last_attempt_at": attempts[-1].at.isoformat() if attempts else None,
            "dead_lettered_at": entry.event.time.isoformat(), "retried": entry.retried}


def _selected(entry: Entry, vendor: str | None, event_type: str | None, reason: str | None,
              since: datetime | None) -> bool:
    o = entry.letter.original
    return ((vendor is None or parse_source(o.source)[0] == vendor)
            and (event_type is None or o.type == event_type)
            and (reason is None or reason.lower() in entry.letter.reason.lower())
            and (since is None or entry.event.time >= since))


def _ordered(entries: list[Entry]) -> list[Entry]:
    """Oldest first, each retry that failed again right below the dead letter it repeats."""
    by_id = {e.event.id: e for e in entries}

    def key(entry: Entry) -> tuple[datetime, str, int]:
        head = by_id.get(entry.letter.first or entry.event.id, entry)
        return head.event.time, head.event.id, entry.letter.retries()

    return sorted(entries, key=key)


def _age(when: datetime) -> str:
    seconds = max(0, int((datetime.now(UTC) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dlq.command("list")
def list_(
    vendor: str | None = typer.Option(None, help="only dead letters of this vendor (from the source)"),
    event_type: str | None = typer.Option(None, "--type", help="only of this original event type"),
    reason: str | None = typer.Option(None, help="only those whose reason contains this (any case)"),
    since: str | None = typer.Option(None, help="only those dead-lettered since (ISO 8601, or 90m, 12h, 7d)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object a line, full ids"),
) -> None:
    """One line per dead letter: short id, age, type, vendor, attempts, retries made, reason.

    A retried event that failed again is listed as `<first id>/<n>`; `dlq show` takes either id.
    """
    after = parse_since(since) if since else None
    entries = _ordered([e for e in _with_bus(_entries) if _selected(e, vendor, event_type, reason, after)])
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(summary(entry)))
        return
    typer.echo(f"{len(entries)} dead letters, {len(pending(entries))} not retried")
    rows = [[e.label, _age(e.event.time), e.letter.original.type,
             parse_source(e.letter.original.source)[0] or "?", str(len(e.letter.attempts)),
             ",".join(map(str, e.retried)) or "no", e.letter.reason] for e in entries]
    for line in columns(["id", "age", "type", "vendor", "tries", "retried", "reason"], rows,
                        shutil.get_terminal_size().columns):
        typer.echo(line)


def columns(header: list[str], rows: list[list[str]], width: int) -> list[str]:
    """Aligned lines no wider than `width`: the columns before the last are kept whole (up to 24
    characters), the last one gets what is left and is cut with `…`."""
    widths = [min(24, max(len(str(r[n])) for r in [header, *rows])) for n in range(len(header) - 1)]
    rest = max(8, width - sum(widths) - len(widths))

    def cut(text: str, size: int) -> str:
        text = " ".join(text.split())
        return text if len(text) <= size else text[: size - 1] + "…"

    lines = []
    for row in [header, *rows]:
        cells = [cut(cell, w).ljust(w) for cell, w in zip(row, widths, strict=False)]
        lines.append(" ".join([*cells, cut(row[-1], rest)]).rstrip())
    return lines


@dlq.command()
def show(ident: str = typer.Argument(..., metavar="ID", help=IDENT_HELP)) -> None:
    """Print dead letters as JSON, including the original event's data."""
    for e in _find(_with_bus(_entries), ident):
        typer.echo(json.dumps({"id": e.event.id, "retried": e.retried,
                               **e.letter.model_dump(mode="json")}, indent=2))


@dlq.command("retry")
def retry_(
    ident: str | None = typer.Argument(None, metavar="[ID]", help=IDENT_HELP),
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
