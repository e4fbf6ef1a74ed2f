"""`scanbridge replay`: re-deliver a time range of events to a topic, or rewind a consumer group."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bus.replay import GroupInUse, Selection, replay_to_topic, rewind_group
from bus.replay import Progress as ProgressCallback
from consumers.delivery.resend import Report
from scanbridge.reading import existing, reading_bus
from schemas.settings import Settings, kafka_bootstrap_from_env


def parse_time(value: str) -> datetime:
    """ISO 8601; a time without an offset is UTC."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, fed as (done, total)."""
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def print_counts(counts: Counter[str], title: str) -> None:
    table = Table(title=title)
    table.add_column("type")
    table.add_column("events", justify="right")
    for event_type, n in sorted(counts.items()):
        table.add_row(event_type, str(n))
    table.add_row("total", str(sum(counts.values())), style="bold")
    Console().print(table)


def register(app: typer.Typer) -> None:
    @app.command()
    def replay(
        start: str = typer.Option(..., "--from", help="first record time (ISO 8601, UTC if no offset)"),
        end: str | None = typer.Option(None, "--to", help="end of the range, exclusive (default: now)"),
        vendor: str | None = typer.Option(None, help="only events of this vendor (from `source`)"),
        account: str | None = typer.Option(None, help="only events of this account (from `source`)"),
        event_type: str | None = typer.Option(None, "--type", help="only events of this type"),
        subject: str | None = typer.Option(None, help="only events with this subject"),
        to_topic: str | None = typer.Option(None, help="publish the events here (created if missing)"),
        group: str | None = typer.Option(None, help="rewind this consumer group to --from instead"),
        dry_run: bool = typer.Option(False, "--dry-run", help="only count, per type (creates nothing)"),
        subscription: str | None = typer.Option(None, "--subscription", help="send the range again to this "
                                                "HTTP subscription (its own filters apply)"),
    ) -> None:
        """Replay events of the events and artifacts topics, marked `replayed=true`, or rewind a group.

        With --group, the group's committed offsets move to the first event at/after --from; a group
        with live members is refused (stop its consumers first). Filters and --to apply to --to-topic
        and to a --dry-run without a target. --dry-run alone counts what the filters select.
        """
        if subscription is not None:
            if to_topic or group or dry_run or vendor or account or event_type or subject:
                raise typer.BadParameter("--subscription takes --from and --to only (its filters apply)")
            _replay_to_subscription(subscription, parse_time(start), parse_time(end) if end else None)
            return
        if to_topic is not None and group is not None:
            raise typer.BadParameter("give one of --to-topic and --group, not both")
        if to_topic is None and group is None and not dry_run:
            raise typer.BadParameter("give --to-topic or --group (or --dry-run to count only)")
        selection = Selection(parse_time(start), parse_time(end) if end else None, vendor, account,
                              event_type, subject)
        if group is not None and selection.filters():
            raise typer.BadParameter("--to, --vendor, --account, --type and --subject need --to-topic")
        settings = kafka_bootstrap_from_env(Settings())
        try:
            counts = asyncio.run(_replay(settings, selection, to_topic, group, dry_run))
        except GroupInUse as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(1) from None
        where = f" to topic {to_topic}" if to_topic else f" to group {group}" if group else ""
        print_counts(counts, f"{'would replay' if dry_run else 'replayed'}{where}")


async def _replay(settings: Settings, selection: Selection, to_topic: str | None, group: str | None,
                  dry_run: bool) -> Counter[str]:
    async with reading_bus(settings) as bus:
        sources = await existing(bus, [settings.bus.topics.events, settings.bus.topics.artifacts])
        if group is not None and dry_run and (members := await bus.group_members(group)):
            typer.echo(f"note: {GroupInUse(group, members)}", err=True)
        if not dry_run:
            if to_topic is not None:
                await bus.ensure_topics([to_topic])
            await bus.start()
        with progress_bar("replay") as progress:
            if group is not None:
                return await rewind_group(bus, sources, group, selection.start, dry_run, progress)
            return await replay_to_topic(bus, sources, to_topic, selection, dry_run, progress)


def _replay_to_subscription(subscription_id: str, start: datetime, end: datetime | None) -> None:
    """Send the subscription's events of [start, end) to its endpoint again, in log order."""
    from consumers.delivery.address import delivery_client
    from consumers.delivery.resend import replay_range
    from scanbridge.commands.subscriptions import opened, print_report

    settings = kafka_bootstrap_from_env(Settings())

    async def run() -> Report | None:
        async with opened(settings) as store, reading_bus(settings) as bus:
            found = await store.subscriptions.get(subscription_id)
            if found is None:
                return None
            allow = found.allow_private or settings.delivery.allow_private
            async with delivery_client(allow_private=allow, timeout_s=settings.delivery.timeout_s) as http:
                return await replay_range(bus, store, settings.bus.topics, found, http, settings.delivery,
                                          start, end)

    report = asyncio.run(run())
    if report is None:
        typer.echo(f"no subscription {subscription_id!r}", err=True)
        raise typer.Exit(1)
    print_report(report)
