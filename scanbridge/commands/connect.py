"""`scanbridge connect meditlink`: authorize a Medit Link account (meditlink-openapi.txt §1.2.1
authorization code: prints the URL to open; §1.2.3 password grant for service accounts). The pending
`state` and the tokens live in the state store, so any host's receiver may take the redirect."""

from __future__ import annotations

import asyncio

import typer

from consumers.http import new_client
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import authorize_url, connect_with_password, keeper
from consumers.tokens import TokenKeepers
from scanbridge.runtime import load_settings
from scanbridge.shared import open_state
from schemas.settings import MeditConnection, Settings
from state.catalog import ConnectionCatalog

connect_app = typer.Typer(no_args_is_help=True, help="Authorize a vendor account of a configured connection.")


def register(app: typer.Typer) -> None:
    app.add_typer(connect_app, name="connect")


def _connection(catalog: ConnectionCatalog, connection_id: str | None) -> MeditConnection:
    known = catalog.of(MeditConnection)
    found = [c for c in known if connection_id in (None, c.id)]
    if len(found) != 1:
        names = ", ".join(c.id for c in known) or "none configured"
        typer.echo(f"name one meditlink connection with --connection ({names})", err=True)
        raise typer.Exit(2)
    return found[0]


@connect_app.command("meditlink")
def meditlink(
    connection_id: str | None = typer.Option(None, "--connection", help="the meditlink connection id"),
    password_grant: bool = typer.Option(False, "--password-grant", help="service account: user + password"),
    username: str | None = typer.Option(None, help="Medit Link user (e-mail) for --password-grant"),
    password: str | None = typer.Option(None, envvar="SCANBRIDGE_MEDITLINK_PASSWORD", hide_input=True,
                                        help="asked for when not given; never stored"),
) -> None:
    """Print the authorize URL (open it; the receiver's redirect route finishes) or use the password grant."""
    settings = load_settings()
    if not password_grant:
        typer.echo(asyncio.run(_authorize(settings, connection_id)))
        return
    user = username or typer.prompt("Medit Link user")
    secret = password or typer.prompt("Password", hide_input=True)
    name, group = asyncio.run(_password(settings, connection_id, user, secret))
    typer.echo(f"connected {name}: group {group}")


async def _authorize(settings: Settings, connection_id: str | None) -> str:
    async with open_state(settings, reload=False) as shared:
        connection = _connection(shared.catalog, connection_id)
        return await authorize_url(shared.store, connection, settings.receiver.public_url)


async def _password(settings: Settings, connection_id: str | None, username: str,
                    password: str) -> tuple[str, str]:
    async with open_state(settings, reload=False) as shared:
        connection = _connection(shared.catalog, connection_id)
        await connect_with_password(shared.store, connection, username, password)
        # Read and keep the group uuid now, so a wrong account shows at once (FAQ: one group per user).
        async with new_client(settings.worker.retry.request_timeout_s) as http:
            tokens = keeper(TokenKeepers(shared.store), connection)
            return connection.id, await MeditClient(connection, http, tokens).group_uuid()
