"""3Shape Dental Desktop (3shape-dental-desktop-pms-integration.txt): worker, pollers, the watch-command
listener, the RequestId commands, `scanbridge threeshape …`. No webhooks: the server is polled."""

import httpx
import typer

from bus.base import Bus
from consumers.clock import Clock
from consumers.context import Shared
from consumers.threeshape.commands import build_runners
from consumers.threeshape.handler import ThreeShapeHandler
from consumers.threeshape.poller import ThreeShapePoller, build_poller
from consumers.threeshape.requests import actions
from scanbridge.plugin import ConsoleControls, VendorPlugin
from schemas.settings import Settings, ThreeShapeConnection


def poller(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock, shared: Shared,
           connection: object) -> ThreeShapePoller | None:
    """Its own HTTPS client per server (pinned CA, Basic auth), so the shared client is not used."""
    return build_poller(settings, bus, clock, shared, connection)


def commands(app: typer.Typer) -> None:
    from scanbridge.commands import threeshape  # the CLI module loads settings: imported when registered

    threeshape.register(app)


def console() -> ConsoleControls:
    from scanbridge.vendors import threeshape_console  # imports the console: loaded when the console starts

    return threeshape_console.controls()


PLUGIN = VendorPlugin(
    name="threeshape",
    vendors=("3shape",),
    connection_models=(ThreeShapeConnection,),
    connections=lambda settings: settings.threeshape,
    handler=ThreeShapeHandler,
    poller=poller,
    runners=build_runners,
    commands=commands,
    actions=actions,
    simulator="simulators.threeshape",
    console=console,
)
