"""Build the receiver's ASGI app from the settings, a bus, the registered vendors' routes and the state
shared with other processes.

The receiver knows no vendor: the composition root (scanbridge/receiving.py) passes each registered
vendor's `/hooks/<vendor>/…` routes and the vendor names the metrics may use as labels. Routes read the
connections from the catalog of the shared state (`state.shared.SharedLink`), which follows the state
store; when the link is still empty at start, the app opens the shared state itself (`open_state`) for
its lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from bus.base import Bus
from receiver import contract, health, metrics, openapi
from receiver.errors import EXCEPTION_HANDLERS
from receiver.hookasgi import ReceiverApp
from schemas.settings import Settings
from state.shared import SharedLink, SharedState

StateOpener = Callable[[], AbstractAsyncContextManager[SharedState]]


def create_app(settings: Settings, bus: Bus, *, vendor_routes: Sequence[BaseRoute], vendors: frozenset[str],
               link: SharedLink, open_state: StateOpener, manage_bus: bool = True,
               problems: Callable[[], list[str]] | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if manage_bus:
                await bus.start()
                stack.push_async_callback(bus.close)
            if link.current is None:
                link.current = await stack.enter_async_context(open_state())
            yield

    return ReceiverApp(
        routes=[*health.routes(bus, problems), *metrics.routes(), *contract.routes(settings),
                *openapi.routes(), *vendor_routes],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
        middleware=[Middleware(metrics.WebhookCounter, vendors=vendors)],
    )
