"""The vendor plug-in contract (DESIGN.md §11): what one vendor gives the runtime, receiver, worker and CLI.

A vendor registers one `VendorPlugin` in `scanbridge/vendors/__init__.py` (one line). The composition
root iterates the registered plug-ins; nothing outside a vendor's own modules names a vendor. Model:
Vector's `SourceConfig` — each source builds itself, the registry is one line per source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import typer
from pydantic import BaseModel
from starlette.routing import BaseRoute

from bus.base import Bus
from consumers.clock import Clock
from consumers.commands.action import Action
from consumers.context import Handler, Shared
from consumers.polling import Build, Poller
from schemas.connections import vendors_of
from schemas.settings import Settings
from state.base import ConnectionKey
from state.shared import SharedLink


class Runner(Protocol):
    """A command listener the runtime runs beside the pollers until `stop` is set."""

    async def run(self, stop: asyncio.Event) -> None: ...


RoutesFactory = Callable[[Settings, Bus, SharedLink], Sequence[BaseRoute]]  # link: the state store, catalog
HandlerFactory = Callable[[Settings], Handler]
# The poller of one connection of the catalog (the state store's, not the TOML's), or None when that
# connection is not polled; the one poller runtime (consumers/polling.py) drives it on the lease's holder.
PollerFactory = Callable[[Settings, Bus, httpx.AsyncClient, Clock, Shared, Any], Poller | None]
# What runs beside the pollers in a poller process (3Shape: the listener of watch commands).
RunnersFactory = Callable[[Settings, Bus, Clock, Shared], Sequence[Runner]]
CommandsFactory = Callable[[typer.Typer], None]  # CLI commands
ActionsFactory = Callable[[], Sequence[Action]]  # what the executor does for `command.<vendor>.<action>`
ConnectionsOf = Callable[[Settings], Sequence[BaseModel]]


async def _no_values(console: Any, connection: Any) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class ConsoleControls:
    """What a vendor adds to the console's page of one of its connections (scanbridge/console/pages/
    connections.py iterates the plug-ins; it names no vendor).

    `fragment`: a Jinja template file included in that page; it sees `key`, `row`, `operator`, `csrf` and
    what `values` returns. `routes(console)`: its actions, under `/connections/<vendor>/{id}/…`; each checks
    the CSRF token and role through `console.form`. `values(console, connection)`: the fragment's extra
    values (connection: the vendor's own connection model, parsed from the state store).
    """

    fragment: Path
    routes: Callable[[Any], Sequence[BaseRoute]]
    values: Callable[[Any, Any], Awaitable[Mapping[str, Any]]] = _no_values


ConsoleFactory = Callable[[], ConsoleControls]  # called once by the console (imports its modules lazily)


def _no_routes(settings: Settings, bus: Bus, shared: SharedLink) -> Sequence[BaseRoute]:
    return []


def _no_runners(settings: Settings, bus: Bus, clock: Clock, shared: Shared) -> Sequence[Runner]:
    return []


def _no_connections(settings: Settings) -> Sequence[BaseModel]:
    return []


@dataclass(frozen=True)
class VendorPlugin:
    """One vendor. Each factory is called by the runtime with what it has built (settings, bus, HTTP
    client, clock); a vendor without webhooks, pollers or commands leaves that factory out.

    `vendors`: the values of `vendor` in its connection models, its events and its `/hooks/<vendor>/…`
    routes (iTero and Align share one plug-in: their API and worker are the same).
    """

    name: str
    vendors: tuple[str, ...]
    connection_models: tuple[type[BaseModel], ...]
    connections: ConnectionsOf = _no_connections  # the TOML's: they seed the state store
    routes: RoutesFactory = _no_routes
    handler: HandlerFactory | None = None
    poller: PollerFactory | None = None
    runners: RunnersFactory = _no_runners
    commands: CommandsFactory | None = None
    actions: ActionsFactory | None = None  # the bus commands it executes (DESIGN.md §10)
    simulator: str | None = None  # the module of its simulator (a stand-in for the vendor cloud)
    console: ConsoleFactory | None = None  # its controls on the console's connection page


def handlers_of(plugins: Sequence[VendorPlugin], settings: Settings) -> dict[str, Handler]:
    """vendor → worker handler; one handler object per plug-in, shared by its vendors."""
    handlers: dict[str, Handler] = {}
    for plugin in plugins:
        if plugin.handler is None:
            continue
        handler = plugin.handler(settings)
        handlers.update(dict.fromkeys(plugin.vendors, handler))
    return handlers


def routes_of(plugins: Sequence[VendorPlugin], settings: Settings, bus: Bus,
              shared: SharedLink) -> list[BaseRoute]:
    return [route for plugin in plugins for route in plugin.routes(settings, bus, shared)]


def poller_builder(plugins: Sequence[VendorPlugin], settings: Settings, bus: Bus, http: httpx.AsyncClient,
                   clock: Clock, shared: Shared) -> Build:
    """What the poller runtime calls for each connection of the catalog: its vendor's poller factory."""
    factories = {vendor: plugin.poller for plugin in plugins if plugin.poller for vendor in plugin.vendors}

    def build(key: ConnectionKey, connection: Any) -> Poller | None:
        factory = factories.get(key.vendor)
        return None if factory is None else factory(settings, bus, http, clock, shared, connection)

    return build


def runners_of(plugins: Sequence[VendorPlugin], settings: Settings, bus: Bus, clock: Clock,
               shared: Shared) -> list[Runner]:
    return [runner for plugin in plugins for runner in plugin.runners(settings, bus, clock, shared)]


def connection_models(plugins: Sequence[VendorPlugin]) -> dict[str, type[BaseModel]]:
    """vendor → its connection model (by the model's `vendor` Literal; of a plug-in's models, a later one
    serving a vendor wins: iTero's model serves "itero" and "align", then Align's own model "align").
    `schemas.connections.union` makes them one discriminated union on `vendor`."""
    models: dict[str, type[BaseModel]] = {}
    for plugin in plugins:
        for model in plugin.connection_models:
            for vendor in vendors_of(model):
                if vendor not in plugin.vendors:
                    raise TypeError(f"{model.__name__} serves {vendor!r}, not a vendor of {plugin.name!r}")
                models[vendor] = model
    return models


def configured(plugins: Sequence[VendorPlugin], settings: Settings) -> list[tuple[str, BaseModel]]:
    """(vendor, connection) of every connection the TOML (and environment) configures: the seeds of the
    state store's connections. A model with a `vendor` field names its own (iTero or Align)."""
    found: list[tuple[str, BaseModel]] = []
    for plugin in plugins:
        for connection in plugin.connections(settings):
            vendor = getattr(connection, "vendor", None)
            found.append((vendor if vendor in plugin.vendors else plugin.vendors[0], connection))
    return found


def actions_of(plugins: Sequence[VendorPlugin]) -> dict[str, Action]:
    """command type → what executes it, over every plug-in."""
    return {action.model.command_type(): action for plugin in plugins if plugin.actions
            for action in plugin.actions()}


def console_controls(plugins: Sequence[VendorPlugin]) -> dict[str, ConsoleControls]:
    """vendor → its console controls (one object per plug-in, shared by its vendors)."""
    found: dict[str, ConsoleControls] = {}
    for plugin in plugins:
        if plugin.console is not None:
            controls = plugin.console()
            found.update(dict.fromkeys(plugin.vendors, controls))
    return found


def vendor_names(plugins: Sequence[VendorPlugin]) -> frozenset[str]:
    return frozenset(vendor for plugin in plugins for vendor in plugin.vendors)
