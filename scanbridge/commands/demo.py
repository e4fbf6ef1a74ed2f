"""`scanbridge demo`: simulated scans through the whole system on the embedded bus, in a minute."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from scanbridge import logs
from scanbridge.demo import run_demo


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        home: Path | None = typer.Option(None, help="folder for bus, state, artifacts (default: temp)"),
        scans: int = typer.Option(3, min=1, max=100, help="how many simulated scans to send"),
        size: int = typer.Option(2_000_000, help="bytes per simulated 3D scan"),
        timeout: float = typer.Option(60.0, help="seconds to wait for the artifacts"),
    ) -> None:
        """Run simulator, receiver and worker on the embedded bus and send simulated iTero scans through."""
        logs.configure("WARNING")
        raise typer.Exit(asyncio.run(run_demo(home, scans, size, timeout)))
