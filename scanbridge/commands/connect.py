"""`scanbridge connect meditlink`: authorize a Medit Link account (meditlink-openapi.txt §1.2.1
authorization code: prints the URL to open; §1.2.3 password grant for service accounts)."""

from __future__ import annotations

import asyncio

import httpx
import typer

from consumers.http import new_client
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import authorize_url, connect_with_password, tokens_for
from scanbridge.runtime import load_settings
from schemas.settings import MeditConnection, Settings

connect_app = typer.Typer(no_args_is_help=True, help="Authorize a vendor account of a configured connection.")


def register(app: typer.Typer) -> None:
    app.add_typer(connect_app, name="connect")


def _connection(settings: Settings, connection_id: str | None) -> MeditConnection:
    found = [c for c in settings.meditlink if connection_id in (None, c.id)]
    if len(found) != 1:
        names = ", ".join(c.id for c in settings.meditlink) or "none configured"
        typer.echo(f"name one [[meditlink]] connection with --connection ({names})", err=True)
        raise typer.Exit(2)
    return found[0]


@connect_app.command("meditlink")
def meditlink(
    connection_id: str | None = typer.Option(None, "--connection", help="the [[meditlink]] connection id"),
    password_grant: bool = typer.Option(False, "--password-grant", help="service account: user + password"),
    username: str | None = typer.Option(None, help="Medit Link user (e-mail) for --password-grant"),
    password: str | None = typer.Option(None, envvar="SCANBRIDGE_MEDITLINK_PASSWORD", hide_input=True,
                                        help="asked for when not given; never stored"),
) -> None:
    """Print the authorize URL (open it; the receiver's redirect route finishes) or use the password grant."""
    settings = load_settings()
    connection = _connection(settings, connection_id)
    if not password_grant:
        typer.echo(authorize_url(connection, settings.state_dir, settings.receiver.public_url))
        return
    user = username or typer.prompt("Medit Link user")
    secret = password or typer.prompt("Password", hide_input=True)
    group = asyncio.run(_password(settings, connection, user, secret))
    typer.echo(f"connected {connection.id}: group {group}")


async def _password(settings: Settings, connection: MeditConnection, username: str, password: str) -> str:
    await connect_with_password(connection, settings.state_dir, username, password)
    async with new_client(settings.worker.retry.request_timeout_s) as http:
        return await _group(connection, settings, http)


async def _group(connection: MeditConnection, settings: Settings, http: httpx.AsyncClient) -> str:
    """Read and keep the group uuid now, so a wrong account shows at once (FAQ: one group per user)."""
    return await MeditClient(connection, http, tokens_for(settings.state_dir, connection)).group_uuid()
