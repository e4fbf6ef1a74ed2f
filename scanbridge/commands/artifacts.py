"""`scanbridge artifacts serve | token`: the authenticated artifact route (README "Artifact route")."""

from __future__ import annotations

import asyncio
import secrets

import typer

from consumers.artifacts.route import token_digest
from scanbridge import logs
from scanbridge.runtime import load_settings, serve_artifacts, stop_event

artifacts_app = typer.Typer(help="The artifact route: GET /artifacts/{artifact_id} for downstream services.")


def register(app: typer.Typer) -> None:
    app.add_typer(artifacts_app, name="artifacts")


@artifacts_app.command()
def serve() -> None:
    """Serve GET /artifacts/{artifact_id} on artifacts.host:artifacts.port over the configured store."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)

    async def main() -> None:
        await serve_artifacts(settings, stop_event())

    asyncio.run(main())


@artifacts_app.command()
def token(name: str = typer.Argument(..., help="the subscriber's name, as the audit log shows it")) -> None:
    """Print a new bearer token for a subscriber (give it to them) and the configuration that admits it
    (only its sha256 is kept)."""
    value = secrets.token_urlsafe(32)
    typer.echo(f"token: {value}")
    typer.echo(f'[[artifacts.subscribers]]\nname = "{name}"\ntoken_sha256 = "{token_digest(value)}"')
