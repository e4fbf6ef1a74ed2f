"""`scanbridge threeshape watch|unwatch|list|clients`: choose the patients whose Dental Desktop cases are
watched, and list a server's connected 3DD clients (3shape-dental-desktop-pms-integration.txt,
"Concept of patient mapping", "/GetAvailableClientList")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import typer

from consumers.errors import VendorError
from consumers.health import label
from consumers.threeshape.connection import dental_desktop
from consumers.threeshape.normalize import VENDOR
from consumers.threeshape.pollstate import PatientState, PollState
from consumers.threeshape.watchlist import WatchList
from scanbridge.runtime import load_settings
from scanbridge.shared import open_state
from schemas.settings import Settings, ThreeShapeConnection
from state.base import ConnectionKey, Health
from state.errors import StateError
from state.shared import SharedState

Change = Callable[[WatchList, list[str]], Awaitable[list[str]]]

threeshape_app = typer.Typer(no_args_is_help=True,
                             help="3Shape Dental Desktop: watched patients and server diagnostics.")


_CONNECTION = typer.Argument(..., help="the [[threeshape]] connection id")
_IDS = typer.Argument(..., help="patients' integration ids (PMS patient ids)")


def register(app: typer.Typer) -> None:
    app.add_typer(threeshape_app, name="threeshape")


def connection_of(settings: Settings, connection_id: str) -> ThreeShapeConnection:
    for connection in settings.threeshape:
        if connection.id == connection_id:
            return connection
    typer.echo(f"no [[threeshape]] connection {connection_id!r} in the configuration", err=True)
    raise typer.Exit(2)


def _stored(shared: SharedState, connection_id: str) -> ThreeShapeConnection:
    """The connection of the state store's catalog (the TOML seeds it; `connections add` adds to it)."""
    connection = shared.catalog.get(VENDOR, connection_id)
    if isinstance(connection, ThreeShapeConnection):
        return connection
    typer.echo(f"no 3shape connection {connection_id!r} (scanbridge connections list)", err=True)
    raise typer.Exit(2)


def _change(connection_id: str, ids: list[str], change: Change) -> list[str]:
    """Apply `WatchList.watch` or `.unwatch` in the state store; an invalid id exits with status 2."""
    settings = load_settings()

    async def run() -> list[str]:
        async with open_state(settings, reload=False) as shared:
            return await change(WatchList(shared.store, _stored(shared, connection_id)), ids)

    try:
        return asyncio.run(run())
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@threeshape_app.command("watch")
def watch(connection: str = _CONNECTION, ids: list[str] = _IDS) -> None:
    """Watch these patients' cases (the poller that holds the connection picks them up at its next round)."""
    added = _change(connection, ids, WatchList.watch)
    typer.echo(f"{connection}: {len(added)} patient(s) added, {len(ids) - len(added)} already watched")


@threeshape_app.command("unwatch")
def unwatch(connection: str = _CONNECTION, ids: list[str] = _IDS) -> None:
    """Stop watching these patients (configured ones too, until watched again)."""
    removed = _change(connection, ids, WatchList.unwatch)
    typer.echo(f"{connection}: {len(removed)} patient(s) no longer watched")


@threeshape_app.command("list")
def list_watched(connection: str = _CONNECTION,
                 as_json: bool = typer.Option(False, "--json", help="one JSON object a line")) -> None:
    """The watched integration ids, with when each was last polled and last changed."""
    settings = load_settings()

    async def run() -> tuple[ThreeShapeConnection, Health, list[str], dict[str, PatientState]]:
        async with open_state(settings, reload=False) as shared:
            conn = _stored(shared, connection)
            key = ConnectionKey(VENDOR, conn.id)
            ids = await WatchList(shared.store, conn).ids()
            return conn, await shared.store.connections.health(key), ids, \
                await PollState(shared.store, key).load(ids)

    try:
        conn, health, ids, patients = asyncio.run(run())
    except StateError as exc:
        typer.echo(f"{connection}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if not as_json:
        since = health.failing_since or health.last_success_at
        typer.echo(f"# {conn.id}: {label(health)}" + (f" since {since:%Y-%m-%dT%H:%M:%SZ}" if since else "")
                   + (f" ({health.last_error})" if health.status != "active" or health.failing_since
                      else ""))
    for pid in ids:
        patient = patients.get(pid)
        polled, changed = (patient.last_polled_at, patient.last_change_at) if patient else (None, None)
        row = {"integration_id": pid, "configured": pid in conn.patients,
               "cases": len(patient.cases) if patient else 0,
               "last_polled_at": polled.isoformat() if polled else None,
               "last_change_at": changed.isoformat() if changed else None}
        typer.echo(json.dumps(row) if as_json else "\t".join(str(v) for v in row.values()))


@threeshape_app.command("clients")
def clients(connection: str = _CONNECTION,
            as_json: bool = typer.Option(False, "--json", help="one JSON object a line")) -> None:
    """The 3DD clients connected to the server (GetAvailableClientList): checks TLS pin and credentials."""
    conn = connection_of(load_settings(), connection)

    async def fetch() -> list[dict[str, object]]:
        async with dental_desktop(conn) as client:
            return [{"client_id": c.client_id, "hostname": c.hostname, "busy": c.is_busy,
                     "operator": c.operator_name, "modules": [m.id for m in c.modules]}
                    for c in await client.get_available_clients()]

    try:
        rows = asyncio.run(fetch())
    except VendorError as exc:
        typer.echo(f"{connection}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    for row in rows:
        typer.echo(json.dumps(row) if as_json else "\t".join(
            str(v) if not isinstance(v, list) else ",".join(v) for v in row.values()))
    if not as_json:
        typer.echo(f"# {len(rows)} client(s) connected to {conn.host}:{conn.port}")
