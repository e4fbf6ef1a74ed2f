"""`scanbridge connections`: the connections of the state store — seeded from the TOML, added, replaced and
removed at run time — with their state (iTero/Align paired or un-paired, Medit Link connected or not,
3Shape's server answering) and health (last successful call, last error, failing since), and who holds
their polling lease. Running processes pick changes up within `state.reload_s` (README "Running on
several hosts"); `connections reset` once an iTero/Align account was paired again (Align lab guideline
§3.8 Pair and Un-pair)."""

from __future__ import annotations

import asyncio
import json
import sys
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from consumers.health import label
from consumers.itero import pairing
from scanbridge import vendors as registry
from scanbridge.plugin import configured, connection_models
from scanbridge.runtime import load_settings
from scanbridge.shared import open_state
from schemas import connections as models
from schemas.settings import IteroConnection, MeditConnection, Settings
from state.base import Connection, ConnectionKey, StateStore

connections_app = typer.Typer(help="Connections in the state store: list, show, add, remove, reset.")


def register(app: typer.Typer) -> None:
    app.add_typer(connections_app, name="connections")


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


async def _row(store: StateStore, key: ConnectionKey, model: Any) -> dict[str, Any]:
    """One connection's state and health, as `connections --json` prints it."""
    health = await store.connections.health(key)
    account: str | None = key.id
    status = "active"
    since, reason = None, None
    if isinstance(model, IteroConnection):
        account = pairing.account_of(model)
    elif isinstance(model, MeditConnection):
        grant = await store.credentials.get(key)
        group = grant.extra.get("group_uuid") if grant else None
        account = group if isinstance(group, str) else None
        status = "not connected yet" if grant is None else "connected"
    if health.status in ("unpaired", "needs_reauthorization"):
        status = "unpaired" if health.status == "unpaired" else "needs re-authorization"
        since, reason = _iso(health.failing_since), health.last_error
    holder = await store.leases.holder(key)
    shown = label(health)
    return {"vendor": key.vendor, "connection": key.id, "account": account, "status": status,
            "since": since, "reason": reason,
            "health": "failing" if shown in ("unpaired", "needs_reauthorization") else shown,
            "last_ok_at": _iso(health.last_success_at), "last_error_at": _iso(health.last_error_at),
            "last_error": health.last_error, "failing_since": _iso(health.failing_since),
            "polled_by": holder.owner if holder else None}


async def states(settings: Settings) -> list[dict[str, Any]]:
    """Every connection of the store (the TOML's seeded first) with its state and health."""
    async with open_state(settings, reload=False) as shared:
        return [await _row(shared.store, key, model) for key, model in shared.catalog.items()]


def text(row: dict[str, Any]) -> str:
    """One line: name, account, state, then health."""
    since = f" since {row['since']}" if row["since"] else ""
    reason = f" ({row['reason']})" if row["reason"] else ""
    if row["failing_since"]:
        shown = f"failing since {row['failing_since']}: {row['last_error']}"
        shown += f"; last ok {row['last_ok_at']}" if row["last_ok_at"] else "; never ok"
    elif row["last_ok_at"]:
        shown = f"ok, last call {row['last_ok_at']}"
    else:
        shown = "no call yet"
    name = f"{row['vendor']}/{row['connection']}"
    return f"{name}\taccount {row['account'] or '?'}\t{row['status']}{since}{reason}\t{shown}"


def _list(as_json: bool) -> None:
    for row in asyncio.run(states(load_settings())):
        typer.echo(json.dumps(row) if as_json else text(row))


@connections_app.callback(invoke_without_command=True)
def overview(ctx: typer.Context,
             as_json: bool = typer.Option(False, "--json", help="one JSON object a line")) -> None:
    """List every connection's state and health (as `connections list`)."""
    if ctx.invoked_subcommand is None:
        _list(as_json)


@connections_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="one JSON object a line")) -> None:
    """List every connection's state and health."""
    _list(as_json)


def _key(name: str, settings: Settings, known: list[ConnectionKey]) -> ConnectionKey:
    """`vendor/id`, or an id alone when one connection has it."""
    vendor, _, connection_id = name.rpartition("/")
    found = [k for k in known if k.id == connection_id and vendor in ("", k.vendor)]
    if len(found) == 1:
        return found[0]
    if vendor:
        return ConnectionKey(vendor, connection_id)
    typer.echo(f"name the connection as vendor/id ({len(found)} connections are called {connection_id!r})",
               err=True)
    raise typer.Exit(2)


@connections_app.command("show")
def show(name: str = typer.Argument(..., help="vendor/id"),
         as_json: bool = typer.Option(False, "--json", help="one JSON object")) -> None:
    """One connection: its settings (secrets masked), source, state, health, credentials (never the
    tokens), pending authorizations and who polls it."""

    async def run(settings: Settings) -> dict[str, Any] | None:
        async with open_state(settings, reload=False) as shared:
            store = shared.store
            key = _key(name, settings, [k for k, _ in shared.catalog.items()])
            stored = await store.connections.get(key)
            if stored is None:
                return None
            model = models.parse(connection_models(registry.VENDORS), key.vendor, stored.settings)
            grant = await store.credentials.get(key)
            row = await _row(store, key, model)
            exp = grant.extra.get("refresh_token_exp") if grant else None
            row |= {"source": stored.source, "settings": model.model_dump(mode="json"),
                    "credentials": None if grant is None else {
                        "version": grant.version, "access_token_expires_at": _iso(grant.expires_at),
                        "refresh_token_expires_at": exp},
                    "pending_authorizations": await store.oauth.pending(key)}
            return row

    found = asyncio.run(run(load_settings()))
    if found is None:
        typer.echo(f"no connection {name!r} in the state store", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(found))
        return
    for field, value in found.items():
        typer.echo(f"{field}: {json.dumps(value) if isinstance(value, dict) else value}")


def _read_table(source: str) -> dict[str, Any]:
    """The connection's fields from a TOML or JSON file (`-`: standard input)."""
    raw = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        data: Any = json.loads(raw) if raw.lstrip().startswith("{") else tomllib.loads(raw)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        typer.echo(f"{source}: not a TOML or JSON table ({type(exc).__name__})", err=True)
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        typer.echo(f"{source}: not a table of connection fields", err=True)
        raise typer.Exit(2)
    return data


@connections_app.command("add")
def add(vendor: str = typer.Argument(..., help="its vendor: itero, align, meditlink, 3shape (or a plug-in)"),
        source: str = typer.Argument(..., help="a TOML or JSON file of the connection's fields, - for stdin "
                                               "(as one [[itero]], [[meditlink]] or [[threeshape]] entry)"),
        replace: bool = typer.Option(False, "--replace", help="replace a connection of that id")) -> None:
    """Add (or with --replace, change) a connection at run time; running processes pick it up within
    state.reload_s. Its secrets are stored sealed, never printed."""
    data = _read_table(source)
    try:
        model = models.parse(connection_models(registry.VENDORS), vendor, data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError: fields and reasons, no values
        problems = ([f"{'.'.join(map(str, _untagged(e['loc'], vendor)))}: {e['msg']}" for e in exc.errors()]
                    if isinstance(exc, ValidationError) else [str(exc)])
        for problem in problems:
            typer.echo(f"scanbridge: {vendor} connection: {problem}", err=True)
        raise typer.Exit(2) from None

    key = ConnectionKey(vendor, str(getattr(model, "id", "")))

    async def run(settings: Settings) -> bool:
        async with open_state(settings, reload=False) as shared:
            return await shared.store.connections.put(Connection(key, models.revealed(model), "runtime"),
                                                      only_if_absent=not replace)

    if not asyncio.run(run(load_settings())):
        typer.echo(f"{key} exists already: --replace to change it", err=True)
        raise typer.Exit(2)
    typer.echo(f"{key} {'replaced' if replace else 'added'}")


def _untagged(loc: tuple[int | str, ...], vendor: str) -> tuple[int | str, ...]:
    """A field's place without the union's tag (the vendor) that pydantic puts first."""
    return loc[1:] if loc[:1] == (vendor,) else loc


@connections_app.command("remove")
def remove(name: str = typer.Argument(..., help="vendor/id")) -> None:
    """Remove a connection (its health and credentials go with it; cursors and markers stay)."""
    settings = load_settings()

    async def run() -> tuple[ConnectionKey, bool]:
        async with open_state(settings, reload=False) as shared:
            key = _key(name, settings, [k for k, _ in shared.catalog.items()])
            return key, await shared.store.connections.remove(key)

    key, removed = asyncio.run(run())
    if not removed:
        typer.echo(f"no connection {key} in the state store", err=True)
        raise typer.Exit(2)
    typer.echo(f"{key} removed")
    toml = configured(registry.VENDORS, settings)
    if any(ConnectionKey(v, str(getattr(c, "id", ""))) == key for v, c in toml):
        typer.echo(f"note: {key} is in the configuration file too; remove it there, or the next start "
                   "adds it again", err=True)


@connections_app.command("reset")
def reset(name: str = typer.Argument(..., help="the iTero/Align connection: vendor/id or id")) -> None:
    """After pairing again (new tokens in the configuration, or `connections add --replace`): forget the
    un-paired state and the old tokens, so the new pair is used."""
    settings = load_settings()

    async def run() -> tuple[ConnectionKey, bool]:
        async with open_state(settings, reload=False) as shared:
            itero = [k for k, c in shared.catalog.items() if isinstance(c, IteroConnection)]
            key = _key(name, settings, itero)
            if key not in itero:
                typer.echo(f"no iTero/Align connection {name!r}", err=True)
                raise typer.Exit(2)
            return key, await pairing.reset(shared.store, key)

    key, cleared = asyncio.run(run())
    typer.echo(f"{key}: {'un-paired state cleared' if cleared else 'was active'}")
