"""`scanbridge config check`: load the configuration as a process would and say what it amounts to,
or, one line each, what is wrong with it (README "Configuration")."""

from __future__ import annotations

import typer

from scanbridge.configload import ConfigError, load_settings
from scanbridge.summary import summary

config_app = typer.Typer(help="Check the configuration.")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command()
def check() -> None:
    """Exit 0 and print a summary (bus, state, artifacts, connections, hook URLs with tokens masked),
    or exit 2 with one line per problem: where, which key, what to do."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in exc.problems:
            typer.echo(line, err=True)
        raise typer.Exit(2) from None
    for line in summary(settings):
        typer.echo(line)
    typer.echo("configuration OK")
