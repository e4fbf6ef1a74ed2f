"""3Shape Dental Desktop (3shape-dental-desktop-pms-integration.txt): worker, pollers and the watch-command
listener, `scanbridge threeshape …`. No webhooks: the server is polled."""

from collections.abc import Sequence

import httpx
import typer

from bus.base import Bus
from consumers.clock import Clock
from consumers.context import Shared
from consumers.threeshape.commands import build_runners
from consumers.threeshape.handler import ThreeShapeHandler
from scanbridge.plugin import Runner, VendorPlugin
from schemas.settings import Settings, ThreeShapeConnection


def pollers(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock,
            shared: Shared) -> Sequence[Runner]:
    """Its own HTTPS client per server (pinned CA, Basic auth), so the shared client is not used."""
    return build_runners(settings, bus, clock, shared)


def commands(app: typer.Typer) -> None:
    from scanbridge.commands import threeshape  # the CLI module loads settings: imported when registered

    threeshape.register(app)


PLUGIN = VendorPlugin(
    name="threeshape",
    vendors=("3shape",),
    connection_models=(ThreeShapeConnection,),
    connections=lambda settings: settings.threeshape,
    handler=ThreeShapeHandler,
    pollers=pollers,
    commands=commands,
    simulator="simulators.threeshape",
)
