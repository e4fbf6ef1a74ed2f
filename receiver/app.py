"""Build the receiver's ASGI app from the settings, a bus and the registered vendors' routes.

The receiver knows no vendor: the composition root (scanbridge/receiving.py) passes each registered
vendor's `/hooks/<vendor>/…` routes and the vendor names the metrics may use as labels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from bus.base import Bus
from receiver import contract, health, metrics, openapi
from receiver.errors import EXCEPTION_HANDLERS
from schemas.settings import Settings


def create_app(settings: Settings, bus: Bus, *, vendor_routes: Sequence[BaseRoute], vendors: frozenset[str],
               manage_bus: bool = True) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_bus:
            await bus.start()
        try:
            yield
        finally:
            if manage_bus:
                await bus.close()

    return Starlette(
        routes=[*health.routes(bus), *metrics.routes(), *contract.routes(settings), *openapi.routes(),
                *vendor_routes],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
        middleware=[Middleware(metrics.WebhookCounter, vendors=vendors)],
    )
