"""`scanbridge console`: the operator's web page on its own (README "Console"); `scanbridge console
hash-password`: the argon2 hash of a password for a `[[console.accounts]]` entry."""

from __future__ import annotations

import asyncio

import typer

from scanbridge import logs

console_app = typer.Typer(help="The operator console (web pages): serve it, or hash an operator's password.")


def register(app: typer.Typer) -> None:
    app.add_typer(console_app, name="console")


@console_app.callback(invoke_without_command=True)
def serve(ctx: typer.Context) -> None:
    """Serve the console on console.host:console.port until stopped (Ctrl-C)."""
    if ctx.invoked_subcommand is not None:
        return
    from scanbridge.console.server import serve_console
    from scanbridge.runtime import load_settings, started_bus, stop_event

    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    if not settings.console.enabled:
        typer.echo("scanbridge: nobody can sign in: set console.admin_secret_file or add "
                   "[[console.accounts]] (scanbridge console hash-password)", err=True)
        raise typer.Exit(2)

    async def run() -> None:
        stop = stop_event()
        async with started_bus(settings) as bus:
            await serve_console(settings, bus, stop, local_metrics=False)

    asyncio.run(run())


@console_app.command("hash-password")
def hash_password(password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                                envvar="SCANBRIDGE_CONSOLE_PASSWORD",
                                                help="asked for when not given")) -> None:
    """Print the argon2id hash to put in `password_hash` of a [[console.accounts]] entry."""
    from scanbridge.console.auth import hash_password as make

    typer.echo(make(password))
