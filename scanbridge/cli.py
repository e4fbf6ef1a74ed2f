"""`scanbridge` subcommands. Each command module registers itself here, nothing else does.

Errors an operator must fix — configuration, a broker refusing us, topics not as expected — end the
command with one line each on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from bus.errors import BusRefused, TopicsNotReady
from scanbridge.configload import ConfigError, explain
from scanbridge.summary import version
from schemas.files import private_umask
from schemas.settings import CONFIG_ENV, ConfigFileMissing, config_path

EXIT_OPERATOR_ERROR = 2


class ScanbridgeApp(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (ConfigError, ConfigFileMissing, BusRefused, TopicsNotReady) as exc:
            lines = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            lines = explain(exc, _quiet_config_path())
        for line in lines:
            print(f"scanbridge: {line}", file=sys.stderr)
        sys.exit(EXIT_OPERATOR_ERROR)


def _quiet_config_path() -> Path | None:
    try:
        return config_path()
    except ConfigFileMissing:
        return None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"scanbridge {version()}")
        raise typer.Exit()


app = ScanbridgeApp(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help texts are plain: "[[threeshape]]" must not be read as rich markup
    help="scanbridge: dental scanner clouds → normalized events on a bus and verified files on disk.",
)


@app.callback()
def main(
    config: Path | None = typer.Option(  # noqa: B008 - typer declares options as default values
        None, "--config", "-c", help=f"the TOML configuration file (instead of {CONFIG_ENV}); it must exist",
    ),
    show_version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="print the version and exit",
    ),
) -> None:
    """scanbridge: dental scanner clouds → Kafka events and stored artifacts."""
    private_umask()  # before any subcommand creates a file: everything it writes is owner-only
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)  # every later load (and child process) reads this file


def _register() -> None:
    from scanbridge import commands, vendors

    for module in commands.MODULES:
        module.register(app)
    for plugin in vendors.VENDORS:
        if plugin.commands is not None:
            plugin.commands(app)


_register()
