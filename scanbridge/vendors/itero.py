"""iTero and Align: one plug-in (itero-dpms-api.txt; Align guideline): webhook, worker, pollers, commands."""

from consumers.itero.commands import actions
from consumers.itero.handler import IteroHandler
from consumers.itero.poller import build_poller
from receiver import itero
from scanbridge.plugin import ConsoleControls, VendorPlugin
from schemas.settings import AlignConnection, IteroConnection


def console() -> ConsoleControls:
    from scanbridge.vendors import itero_console  # imports the console: loaded when the console starts

    return itero_console.controls()


PLUGIN = VendorPlugin(
    name="itero",
    vendors=("itero", "align"),
    connection_models=(IteroConnection, AlignConnection),
    connections=lambda settings: settings.itero,
    routes=itero.routes,
    handler=IteroHandler,
    poller=build_poller,
    actions=actions,
    simulator="simulators.itero",
    console=console,
)
