"""The vendor plug-in contract (DESIGN.md §11): what one vendor gives the runtime, receiver, worker and CLI.

A vendor registers one `VendorPlugin` in `scanbridge/vendors/__init__.py` (one line). The composition
root iterates the registered plug-ins; nothing outside a vendor's own modules names a vendor. Model:
Vector's `SourceConfig` — each source builds itself, the registry is one line per source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import typer
from pydantic import BaseModel
from starlette.routing import BaseRoute

from bus.base import Bus
from consumers.clock import Clock
from consumers.context import Handler
from schemas.settings import Settings


class Runner(Protocol):
    """A poller (or a command listener) the runtime runs until `stop` is set."""

    async def run(self, stop: asyncio.Event) -> None: ...


RoutesFactory = Callable[[Settings, Bus], Sequence[BaseRoute]]
HandlerFactory = Callable[[Settings], Handler]
PollersFactory = Callable[[Settings, Bus, httpx.AsyncClient, Clock], Sequence[Runner]]
CommandsFactory = Callable[[typer.Typer], None]
ConnectionsOf = Callable[[Settings], Sequence[BaseModel]]


def _no_routes(settings: Settings, bus: Bus) -> Sequence[BaseRoute]:
    return []


def _no_pollers(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock) -> Sequence[Runner]:
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
    connections: ConnectionsOf = _no_connections
    routes: RoutesFactory = _no_routes
    handler: HandlerFactory | None = None
    pollers: PollersFactory = _no_pollers
    commands: CommandsFactory | None = None
    simulator: str | None = None  # the module of its simulator (a stand-in for the vendor cloud)


def handlers_of(plugins: Sequence[VendorPlugin], settings: Settings) -> dict[str, Handler]:
    """vendor → worker handler; one handler object per plug-in, shared by its vendors."""
    handlers: dict[str, Handler] = {}
    for plugin in plugins:
        if plugin.handler is None:
            continue
        handler = plugin.handler(settings)
        handlers.update(dict.fromkeys(plugin.vendors, handler))
    return handlers


def routes_of(plugins: Sequence[VendorPlugin], settings: Settings, bus: Bus) -> list[BaseRoute]:
    return [route for plugin in plugins for route in plugin.routes(settings, bus)]


def pollers_of(plugins: Sequence[VendorPlugin], settings: Settings, bus: Bus, http: httpx.AsyncClient,
               clock: Clock) -> list[Runner]:
    return [poller for plugin in plugins for poller in plugin.pollers(settings, bus, http, clock)]


def vendor_names(plugins: Sequence[VendorPlugin]) -> frozenset[str]:
    return frozenset(vendor for plugin in plugins for vendor in plugin.vendors)
