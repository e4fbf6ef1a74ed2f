"""Medit Link (meditlink-openapi.txt): callback and OAuth routes, worker, pollers, commands."""

from collections.abc import Sequence

from starlette.routing import BaseRoute

from bus.base import Bus
from consumers.meditlink.commands import actions
from consumers.meditlink.handler import MeditHandler
from consumers.meditlink.poller import build_poller
from receiver import meditlink, meditlink_oauth
from scanbridge.plugin import ConsoleControls, VendorPlugin
from schemas.settings import MeditConnection, Settings
from state.shared import SharedLink


def routes(settings: Settings, bus: Bus, shared: SharedLink) -> Sequence[BaseRoute]:
    return [*meditlink.routes(settings, bus, shared), *meditlink_oauth.routes(settings, shared)]


def console() -> ConsoleControls:
    from scanbridge.vendors import meditlink_console  # imports the console: loaded when the console starts

    return meditlink_console.controls()


PLUGIN = VendorPlugin(
    name="meditlink",
    vendors=("meditlink",),
    connection_models=(MeditConnection,),
    connections=lambda settings: settings.meditlink,
    routes=routes,
    handler=MeditHandler,
    poller=build_poller,
    actions=actions,
    simulator="simulators.meditlink",
    console=console,
)
