"""`scanbridge state`: the state store's schema and credentials key (README "State store")."""

from __future__ import annotations

import asyncio

import typer
from cryptography.fernet import Fernet

from scanbridge.runtime import load_settings
from state.factory import make_state_store

state_app = typer.Typer(help="The state store: its schema, a new credentials key, reseal after key rotation.")


def register(app: typer.Typer) -> None:
    app.add_typer(state_app, name="state")


@state_app.command()
def key() -> None:
    """Print a new credentials key (Fernet). Put it first in SCANBRIDGE_CREDENTIALS_KEYS (or the key
    file), keep the old key after it until `scanbridge state reseal` has run."""
    typer.echo(Fernet.generate_key().decode())


@state_app.command()
def migrate() -> None:
    """Apply the schema migrations not yet applied (every process also does at start)."""

    async def run() -> None:
        store = make_state_store(load_settings().state)
        await store.start()
        await store.close()

    asyncio.run(run())
    typer.echo("state store schema is current")


@state_app.command()
def reseal() -> None:
    """Re-encrypt every sealed row with the newest key; afterwards the older keys may be removed."""

    async def run() -> int:
        store = make_state_store(load_settings().state)
        await store.start()
        try:
            return await store.reseal()
        finally:
            await store.close()

    typer.echo(f"{asyncio.run(run())} rows resealed with the newest key")
