"""`scanbridge token`: make a webhook path token with enough entropy (≥128 bits)."""

import secrets

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def token(nbytes: int = typer.Option(32, min=16, help="random bytes (16 = 128 bits)")) -> None:
        """Print a new random URL-safe webhook token."""
        typer.echo(secrets.token_urlsafe(nbytes))
