"""`scanbridge` subcommands. Each command module registers itself here, nothing else does."""

from __future__ import annotations

import typer

from schemas.files import private_umask

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help texts are plain: "[[threeshape]]" must not be read as rich markup
    help="scanbridge: dental scanner clouds → normalized events on a bus and verified files on disk.",
)


@app.callback()
def main() -> None:
    """scanbridge: dental scanner clouds → Kafka events and stored artifacts."""
    private_umask()  # before any subcommand creates a file: everything it writes is owner-only


def _register() -> None:
    from scanbridge import commands

    for module in commands.MODULES:
        module.register(app)


_register()
