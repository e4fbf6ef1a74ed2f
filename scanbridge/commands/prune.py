"""`scanbridge prune [--dry-run]`: delete what is older than `[retention]` (README "Retention")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bus.local import LocalBus
from consumers.artifacts.factory import make_store
from consumers.clock import RealClock
from scanbridge import logs
from scanbridge.retention import ARTIFACTS, AUDIT, BUS_LOG, MARKERS, ORDERS, Plan, apply, build_plan
from scanbridge.runtime import load_settings
from schemas.settings import Settings
from state.factory import make_state_store


def register(app: typer.Typer) -> None:
    app.command()(prune)


def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would go; delete nothing"),
) -> None:
    """Delete artifacts, markers, the console's orders index and audit log, and bus-log records older than
    their retention ([retention])."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    console = Console()
    asyncio.run(run(settings, dry_run, console))


def describe(plan: Plan, settings: Settings, dry_run: bool) -> Table:
    days = {ARTIFACTS: settings.retention.artifacts_days, MARKERS: settings.retention.markers_days,
            ORDERS: settings.retention.orders_index_days, AUDIT: settings.retention.audit_days,
            BUS_LOG: settings.retention.bus_log_days}
    totals = plan.totals()
    table = Table(title="would be deleted (dry run)" if dry_run else "to delete")
    for column in ("kind", "retention", "count", "bytes"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, keep in days.items():
        count, size = totals.get(kind, (0, 0))
        table.add_row(kind, "forever" if keep is None else f"{keep:g} days", str(count), f"{size:,}")
    return table


async def run(settings: Settings, dry_run: bool, console: Console) -> Plan:
    store = make_store(settings.storage, policy=settings.worker.retry, clock=RealClock())
    state = make_state_store(settings.state)
    await store.start(sweep=False)  # beside a running worker: its spool and uploads stay untouched
    bus = LocalBus(settings.bus.local_path) if settings.bus.backend == "local" else None
    try:
        await state.start()
        if bus is not None:
            await bus.start()
        plan = await build_plan(settings.retention, state, store, bus, datetime.now(UTC))
        console.print(describe(plan, settings, dry_run))
        if dry_run or not plan.count:
            return plan
        columns = (TextColumn("pruning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("prune", total=plan.count)
            await apply(plan, lambda n: progress.advance(task, n))
        console.print(f"deleted {plan.count} items")
        return plan
    finally:
        if bus is not None:
            await bus.close()
        await state.close()
        await store.close()
