"""The receiver app with the registered vendors' webhook routes (DESIGN.md §11: the composition root
alone knows the vendors)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette

from bus.base import Bus
from receiver.app import create_app as create_receiver_app
from scanbridge import tracing
from scanbridge import vendors as registry
from scanbridge.plugin import VendorPlugin, routes_of, vendor_names
from schemas.settings import Settings


def create_app(settings: Settings, bus: Bus, *, manage_bus: bool = True,
               plugins: Sequence[VendorPlugin] | None = None) -> Starlette:
    """`plugins`: the registered vendors unless given (a test adds its own)."""
    plugins = registry.VENDORS if plugins is None else plugins
    app = create_receiver_app(settings, bus, vendor_routes=routes_of(plugins, settings, bus),
                              vendors=vendor_names(plugins), manage_bus=manage_bus)
    tracing.instrument(app)  # a server span per webhook when tracing is on
    return app
