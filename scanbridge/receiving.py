"""The receiver app with the registered vendors' webhook routes and the shared state (DESIGN.md §11: the
composition root alone knows the vendors)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette

from bus.base import Bus
from receiver.app import create_app as create_receiver_app
from scanbridge import tracing
from scanbridge import vendors as registry
from scanbridge.plugin import VendorPlugin, routes_of, vendor_names
from scanbridge.shared import open_state
from schemas.settings import Settings
from state.shared import SharedLink, SharedState


def create_app(settings: Settings, bus: Bus, *, manage_bus: bool = True, shared: SharedState | None = None,
               plugins: Sequence[VendorPlugin] | None = None,
               problems: Callable[[], list[str]] | None = None) -> Starlette:
    """`plugins`: the registered vendors unless given (a test adds its own); `shared`: the process's state
    store and catalog, else the app opens them for its lifespan; `problems`: of the rest of the process
    (its pollers), shown by `/readyz`."""
    plugins = registry.VENDORS if plugins is None else plugins
    link = SharedLink(shared)
    app = create_receiver_app(settings, bus, vendor_routes=routes_of(plugins, settings, bus, link),
                              vendors=vendor_names(plugins), link=link, manage_bus=manage_bus,
                              open_state=lambda: open_state(settings, plugins=plugins), problems=problems)
    tracing.instrument(app)  # a server span per webhook when tracing is on
    return app
