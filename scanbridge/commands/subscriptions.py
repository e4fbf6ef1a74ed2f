"""`scanbridge subscriptions add | list | remove | rotate-secret | enable | dead-letters`: HTTP endpoints
that receive events signed with the Standard Webhooks scheme (README "Delivering to HTTP endpoints")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from consumers.delivery.address import delivery_client
from consumers.delivery.errors import UnsafeEndpoint
from consumers.delivery.manage import InvalidSubscription, new_subscription, rotate_secret
from consumers.delivery.resend import Report, resend_dead_letters
from scanbridge.runtime import load_settings
from schemas.settings import Settings
from state.factory import make_state_store
from state.store import SqlStateStore

subscriptions_app = typer.Typer(help="HTTP endpoints that receive signed events (Standard Webhooks).")


def register(app: typer.Typer) -> None:
    app.add_typer(subscriptions_app, name="subscriptions")


@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[SqlStateStore]:
    store = make_state_store(settings.state)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def shown_url(url: str) -> str:
    """The URL without its query (it may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def _missing(subscription_id: str) -> typer.Exit:
    typer.echo(f"no subscription {subscription_id!r}", err=True)
    return typer.Exit(1)


@subscriptions_app.command()
def add(
    url: str = typer.Argument(..., help="the endpoint (https; http only with --allow-private)"),
    subscription_id: str | None = typer.Option(None, "--id", help="a name (default: host + random)"),
    event_types: list[str] = typer.Option([], "--type", "-t", help="event type, `prefix.*` or `*` "
                                          "(repeat; default: every type)"),
    vendors: list[str] = typer.Option([], "--vendor", help="only these vendors (repeat)"),
    accounts: list[str] = typer.Option([], "--account", help="only these accounts (repeat)"),
    allow_private: bool = typer.Option(False, "--allow-private", help="allow loopback, link-local and "
                                       "private addresses, and plain http (endpoints on your own network)"),
) -> None:
    """Add a subscription; prints its id and signing secret (shown once: give it to the endpoint)."""
    settings = load_settings()

    async def run() -> tuple[bool, str, str]:
        subscription = await new_subscription(url, subscription_id=subscription_id, event_types=event_types,
                                              vendors=vendors, accounts=accounts, allow_private=allow_private)
        async with opened(settings) as store:
            return (await store.subscriptions.add(subscription), subscription.id,
                    subscription.secrets[0].secret)

    try:
        added, sid, secret = asyncio.run(run())
    except (UnsafeEndpoint, InvalidSubscription) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from None
    if not added:
        typer.echo(f"refused: a subscription {sid!r} exists", err=True)
        raise typer.Exit(1)
    typer.echo(f"id: {sid}\nsecret: {secret}")


@subscriptions_app.command("list")
def list_() -> None:
    """Every subscription: endpoint (without its query), filters, state; never a secret."""
    settings = load_settings()

    async def run() -> list[tuple[str, ...]]:
        async with opened(settings) as store:
            rows: list[tuple[str, ...]] = []
            for s in await store.subscriptions.list():
                letters = len(await store.subscriptions.dead_letters(s.id))
                rows.append((s.id, shown_url(s.url), ",".join(s.event_types), ",".join(s.vendors) or "*",
                             ",".join(s.accounts) or "*", s.status,
                             s.failing_since.isoformat(timespec="seconds") if s.failing_since else "",
                             str(letters)))
            return rows

    table = Table()
    for column in ("id", "endpoint", "types", "vendors", "accounts", "status", "failing since",
                   "dead letters"):
        table.add_column(column)
    for row in asyncio.run(run()):
        table.add_row(*row)
    Console(width=200).print(table)


@subscriptions_app.command()
def remove(subscription_id: str) -> None:
    """Remove a subscription, its delivery records and its dead letters."""
    settings = load_settings()

    async def run() -> bool:
        async with opened(settings) as store:
            return await store.subscriptions.remove(subscription_id)

    if not asyncio.run(run()):
        raise _missing(subscription_id)
    typer.echo(f"removed {subscription_id}")


@subscriptions_app.command("rotate-secret")
def rotate(
    subscription_id: str,
    grace_s: float | None = typer.Option(None, "--grace-s", help="how long the old secret also signs "
                                         "(default: delivery.secret_grace_s)"),
) -> None:
    """Make a new signing secret (printed once); the old one also signs during the grace period."""
    settings = load_settings()
    grace = settings.delivery.secret_grace_s if grace_s is None else grace_s

    async def run() -> str | None:
        async with opened(settings) as store:
            return await rotate_secret(store.subscriptions, subscription_id, grace)

    secret = asyncio.run(run())
    if secret is None:
        raise _missing(subscription_id)
    typer.echo(f"secret: {secret}")


@subscriptions_app.command()
def enable(subscription_id: str) -> None:
    """Deliver again to a disabled subscription: what waited on the bus follows, in order."""
    settings = load_settings()

    async def run() -> bool | None:
        async with opened(settings) as store:
            if await store.subscriptions.get(subscription_id) is None:
                return None
            return await store.subscriptions.enable(subscription_id)

    outcome = asyncio.run(run())
    if outcome is None:
        raise _missing(subscription_id)
    typer.echo(f"{subscription_id} {'enabled' if outcome else 'was not disabled'}")


@subscriptions_app.command("dead-letters")
def dead_letters(
    subscription_id: str,
    resend: bool = typer.Option(False, "--resend", help="send them again, oldest first"),
) -> None:
    """The events the endpoint refused for good (a 4xx), or --resend them."""
    settings = load_settings()

    async def run() -> list[tuple[str, ...]] | Report | None:
        async with opened(settings) as store:
            subscription = await store.subscriptions.get(subscription_id)
            if subscription is None:
                return None
            if resend:
                allow = subscription.allow_private or settings.delivery.allow_private
                http = delivery_client(allow_private=allow, timeout_s=settings.delivery.timeout_s)
                async with http:
                    return await resend_dead_letters(store, subscription, http, settings.delivery)
            return [(d.event_id, str(d.event.get("type")), d.reason, str(d.attempts),
                     d.created_at.isoformat(timespec="seconds") if d.created_at else "")
                    for d in await store.subscriptions.dead_letters(subscription_id)]

    outcome = asyncio.run(run())
    if outcome is None:
        raise _missing(subscription_id)
    if isinstance(outcome, Report):
        print_report(outcome)
        return
    table = Table()
    for column in ("event", "type", "reason", "attempts", "at"):
        table.add_column(column)
    for row in outcome:
        table.add_row(*row)
    Console(width=200).print(table)


def print_report(report: Report) -> None:
    typer.echo(f"sent: {report.sent}")
    for event_id, reason in report.refused:
        typer.echo(f"refused: {event_id}: {reason}")
    if report.stopped:
        typer.echo(f"stopped: {report.stopped}", err=True)
        raise typer.Exit(1)
