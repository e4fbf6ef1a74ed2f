"""`scanbridge connections`: each connection's state (active, or un-paired since when and why), and
`connections reset ID` once it was paired again (Align lab guideline §3.8 Pair and Un-pair)."""

from __future__ import annotations

import json

import typer

from consumers.cursor import all_states
from consumers.itero import pairing
from scanbridge.runtime import load_settings
from schemas.settings import Settings

FIELDS = ("vendor", "connection", "account", "status", "since", "reason")

connections_app = typer.Typer(help="Connection states: active, or un-paired (re-authorization needed).")


def register(app: typer.Typer) -> None:
    app.add_typer(connections_app, name="connections")


def states(settings: Settings) -> list[dict[str, str | None]]:
    """Configured connections (active unless a state file says otherwise), then any other state files."""
    rows: dict[str, dict[str, str | None]] = {}
    for connection in settings.itero:
        rows[f"{connection.vendor}/{connection.id}"] = {
            "vendor": connection.vendor, "connection": connection.id,
            "account": pairing.account_of(connection), "status": "active", "since": None, "reason": None,
        }
    for _, data in all_states(settings.state_dir / "connections"):
        if data.get("vendor") and data.get("connection"):
            key = f"{data['vendor']}/{data['connection']}"
            rows[key] = {**rows.get(key, {}), **{k: data.get(k) for k in FIELDS}}
    return [rows[k] for k in sorted(rows)]


@connections_app.callback(invoke_without_command=True)
def show(ctx: typer.Context,
         as_json: bool = typer.Option(False, "--json", help="one JSON object a line")) -> None:
    """List connection states."""
    if ctx.invoked_subcommand is not None:
        return
    for row in states(load_settings()):
        if as_json:
            typer.echo(json.dumps(row))
        else:
            since = f" since {row['since']}" if row["since"] else ""
            reason = f" ({row['reason']})" if row["reason"] else ""
            name = f"{row['vendor']}/{row['connection']}"
            typer.echo(f"{name}\taccount {row['account']}\t{row['status']}{since}{reason}")


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
