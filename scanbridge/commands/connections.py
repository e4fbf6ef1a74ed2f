"""`scanbridge connections`: every configured connection of every vendor, with its state (iTero/Align
paired or un-paired, Medit Link connected or not, 3Shape's server trusted and answering) and its health
(last successful call, last error, failing since); `connections reset ID` once an iTero/Align account
was paired again (Align lab guideline §3.8 Pair and Un-pair)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer

from consumers import health
from consumers.cursor import all_states
from consumers.itero import pairing
from consumers.meditlink.oauth import VENDOR as MEDITLINK
from consumers.threeshape.normalize import VENDOR as THREESHAPE
from consumers.threeshape.pollstate import PollState
from scanbridge.runtime import load_settings
from schemas.credentials import load_tokens, token_path
from schemas.settings import Settings

FIELDS = ("vendor", "connection", "account", "status", "since", "reason")

connections_app = typer.Typer(help="Connection states and health: paired, connected, failing since when.")


def register(app: typer.Typer) -> None:
    app.add_typer(connections_app, name="connections")


def _row(vendor: str, connection: str, account: str | None, status: str, since: datetime | str | None = None,
         reason: str | None = None) -> dict[str, Any]:
    return {"vendor": vendor, "connection": connection, "account": account, "status": status,
            "since": since.isoformat() if isinstance(since, datetime) else since, "reason": reason}


def _medit_status(settings: Settings, connection_id: str) -> tuple[str | None, str]:
    record = load_tokens(token_path(settings.state_dir, MEDITLINK, connection_id))
    if record is None:
        return None, "not connected yet"
    return record.group_uuid, "needs re-authorization" if record.needs_reauthorization else "connected"


def states(settings: Settings) -> list[dict[str, Any]]:
    """Every configured connection with its state and health, then any other iTero state files."""
    rows: dict[str, dict[str, Any]] = {}
    for c in settings.itero:
        rows[f"{c.vendor}/{c.id}"] = _row(c.vendor, c.id, pairing.account_of(c), "active")
    for _, data in all_states(settings.state_dir / "connections"):
        if data.get("vendor") and data.get("connection"):
            key = f"{data['vendor']}/{data['connection']}"
            rows[key] = {**rows.get(key, {}), **{k: data.get(k) for k in FIELDS}}
    for m in settings.meditlink:
        account, status = _medit_status(settings, m.id)
        rows[f"{MEDITLINK}/{m.id}"] = _row(MEDITLINK, m.id, account, status)
    for t in settings.threeshape:
        polled = PollState(settings.state_dir, t.id).health
        ok = polled.status == "ok"
        rows[f"{THREESHAPE}/{t.id}"] = _row(THREESHAPE, t.id, t.id, "active" if ok else polled.status,
                                             None if ok else polled.since, polled.reason)
    for row in rows.values():
        now = health.read(settings.state_dir, row["vendor"], row["connection"])
        row.update({"health": now.status, "last_ok_at": _iso(now.last_ok_at),
                    "last_error_at": _iso(now.last_error_at), "last_error": now.last_error,
                    "failing_since": _iso(now.failing_since)})
    return [rows[k] for k in sorted(rows)]


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


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


@connections_app.callback(invoke_without_command=True)
def show(ctx: typer.Context,
         as_json: bool = typer.Option(False, "--json", help="one JSON object a line")) -> None:
    """List every connection's state and health."""
    if ctx.invoked_subcommand is not None:
        return
    for row in states(load_settings()):
        typer.echo(json.dumps(row) if as_json else text(row))


@connections_app.command("reset")
def reset(connection_id: str = typer.Argument(..., help="the [[itero]] connection id")) -> None:
    """After pairing again (new tokens in the configuration): forget the un-paired state and old tokens."""
    settings = load_settings()
    found = [c for c in settings.itero if c.id == connection_id]
    if not found:
        typer.echo(f"no connection {connection_id!r} in the configuration", err=True)
        raise typer.Exit(2)
    cleared = pairing.reset(settings.state_dir, found[0])
    typer.echo(f"{found[0].vendor}/{connection_id}: {'un-paired state cleared' if cleared else 'was active'}")
