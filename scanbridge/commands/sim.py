"""`scanbridge sim …`: run a vendor simulator and make it send scans (demo and walk-through)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
import typer
import uvicorn

from simulators.itero.app import create_app as create_itero
from simulators.itero.state import IteroSimState

sim_app = typer.Typer(no_args_is_help=True, help="Vendor simulators (stand-ins for the vendor clouds).")

DEMO_ACCESS = "demo-itero-access-token"
DEMO_REFRESH = "demo-itero-refresh-token"


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")


@sim_app.command("itero")
def itero(
    port: int = typer.Option(8701, envvar="SCANBRIDGE_SIM_ITERO_PORT", help="the port to serve on"),
    workdir: Path | None = typer.Option(None, help="its files (default: a new temporary folder)"),
) -> None:
    """Serve the iTero / Align simulator on 127.0.0.1; it accepts the demo tokens of examples/demo.toml."""
    state = IteroSimState(workdir=workdir or Path(tempfile.mkdtemp(prefix="itero-sim-")))
    state.access_tokens[DEMO_ACCESS] = float("inf")
    state.refresh_tokens.add(DEMO_REFRESH)
    uvicorn.run(create_itero(state), host="127.0.0.1", port=port, log_level="warning")


@sim_app.command("itero-scan")
def itero_scan(
    callback: str = typer.Option(..., help="the receiver's iTero hook URL, with its token"),
    sim: str = typer.Option("http://127.0.0.1:8701", envvar="SCANBRIDGE_SIM_ITERO_URL",
                            help="the simulator's URL"),
    size: int = typer.Option(1_000_000, help="bytes of the simulated 3D scan"),
    screen_captures: bool = typer.Option(False),
    remodel: str | None = typer.Option(None, help="an existing Rx id to send back after modeling"),
) -> None:
    """Create a simulated scan (or remodel one) and post its scan notification to `callback`."""
    asyncio.run(_scan(sim, callback, size, screen_captures, remodel))


async def _scan(sim: str, callback: str, size: int, screen_captures: bool, remodel: str | None) -> None:
    async with httpx.AsyncClient(base_url=sim, timeout=60) as http:
        if remodel:
            response = await http.post(f"/_sim/orders/{remodel}/remodel", json={"callback_url": callback})
        else:
            response = await http.post("/_sim/orders", json={"size": size, "screen_captures": screen_captures,
                                                              "callback_url": callback})
        response.raise_for_status()
        typer.echo(response.text)
