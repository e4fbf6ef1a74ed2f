"""Every `scanbridge … --help` renders, and shows its help texts as written (no markup eaten)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from scanbridge.cli import app

ROOT = typer.main.get_command(app)


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) of the root and every command below it (typer vendors its own click)."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(ROOT))


def _flat(text: str) -> str:
    """Whitespace collapsed, and words the help formatter broke at a hyphen joined again."""
    return re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", text)).strip()


def _help_texts(command: Any) -> list[str]:
    """The command's own help and every parameter's help, as the source wrote them."""
    texts = [command.help or "", *(getattr(param, "help", None) or "" for param in command.params)]
    return [t for t in texts if t]


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "scanbridge")
def test_every_help_renders_its_texts_unchanged(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"SCANBRIDGE_CONFIG": None})
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    for text in _help_texts(COMMANDS[path]):
        assert _flat(text.replace("\b", "")) in shown, f"{' '.join(path)}: help text changed on the way"


def test_the_commands_walked_include_the_nested_ones() -> None:
    assert ("threeshape", "watch") in COMMANDS and ("dlq", "list") in COMMANDS and ("poller",) in COMMANDS


def test_a_connection_argument_shows_its_table_name() -> None:
    result = CliRunner().invoke(app, ["threeshape", "watch", "--help"])
    assert "[[threeshape]]" in result.output


def test_the_poller_help_names_every_polled_vendor() -> None:
    shown = _flat(CliRunner().invoke(app, ["poller", "--help"]).output)
    for vendor in ("iTero", "Align", "Medit Link", "3Shape"):
        assert vendor in shown
