"""Build the receiver's ASGI app from the settings and a bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from bus.base import Bus
from receiver import contract, health, itero, meditlink, meditlink_oauth, metrics, openapi
from receiver.errors import EXCEPTION_HANDLERS
from schemas.settings import Settings


def create_app(settings: Settings, bus: Bus, *, manage_bus: bool = True) -> Starlette:
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
        routes=[
            *health.routes(bus),
            *metrics.routes(),
            *contract.routes(settings),
            *openapi.routes(),
            *meditlink.routes(settings, bus),  # before iTero's /hooks/{vendor}/{token}
            *meditlink_oauth.routes(settings),
            *itero.routes(settings, bus),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
        middleware=[Middleware(metrics.WebhookCounter)],
    )
