"""A tiny fourth vendor, "acme", in one folder: a webhook route, a worker handler and a poller, built only
on the generic machinery (receiver.auth/publish, the event factory). Registered by one line in a test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import httpx
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bus.base import Bus
from consumers.clock import Clock
from consumers.context import Shared, WorkContext
from receiver.auth import authenticated_body
from receiver.body import parse_object
from receiver.publish import now, publish_notification
from scanbridge.plugin import VendorPlugin
from schemas.eventfactory import vendor_event
from schemas.events import ScanNotified
from schemas.section import Section
from schemas.settings import Settings, WebhookAuth
from schemas.topics import SCAN_NOTIFIED
from state.base import ConnectionKey, Lease
from state.shared import SharedLink

VENDOR = "acme"
TOKEN = "acme-webhook-token-0123456789abcdef"
CONNECTION = "acme-lab-1"


class AcmeConnection(Section):
    id: str = CONNECTION
    vendor: Literal["acme"] = VENDOR
    webhook: WebhookAuth = WebhookAuth(token=SecretStr(TOKEN))


CONNECTIONS = [AcmeConnection()]
HANDLED: list[ScanNotified] = []  # what the worker gave the handler, in order
POLLS: list[str] = []  # the poller's runs


def routes(settings: Settings, bus: Bus, shared: SharedLink) -> Sequence[BaseRoute]:
    async def hook(request: Request) -> JSONResponse:
        connection, raw = await authenticated_body(request, CONNECTIONS, settings.receiver.max_body_bytes)
        order = str(parse_object(raw)["order"])
        notified = ScanNotified(vendor=VENDOR, account=connection.id, connection=connection.id,
                                order_id=order, learned_by="webhook", received_at=now())
        event = await publish_notification(bus, settings.bus.topics, raw=raw, content_type="application/json",
                                           route=f"/hooks/{VENDOR}", notified=notified, subject=order)
        return JSONResponse({"accepted": True, "event_id": event.id}, status_code=202)

    return [Route(f"/hooks/{VENDOR}/{{token:str}}", hook, methods=["POST"])]


class AcmeHandler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def handle(self, notified: ScanNotified, ctx: WorkContext) -> None:
        HANDLED.append(notified)

    async def close(self) -> None:
        return None


class AcmePoller:
    """A `consumers.polling.Poller`: each round announces one order (the same event id every time)."""

    interval_s = 3600.0
    host = "acme.example"

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings, self.bus = settings, bus
        self.key = ConnectionKey(VENDOR, CONNECTION)

    async def poll(self, lease: Lease | None) -> str | None:
        POLLS.append(CONNECTION)
        notified = ScanNotified(vendor=VENDOR, account=CONNECTION, connection=CONNECTION, order_id="polled-1",
                                learned_by="poll", received_at=now(), version="v1")
        await self.bus.publish(self.settings.bus.topics.events, vendor_event(
            SCAN_NOTIFIED, vendor=VENDOR, account=CONNECTION, subject="polled-1", version="v1",
            data=notified.model_dump(mode="json")))
        return None

    async def close(self) -> None:
        return None


def poller(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock, shared: Shared,
           connection: object) -> AcmePoller:
    return AcmePoller(settings, bus)


PLUGIN = VendorPlugin(name=VENDOR, vendors=(VENDOR,), connection_models=(AcmeConnection,),
                      connections=lambda settings: CONNECTIONS, routes=routes, handler=AcmeHandler,
                      poller=poller, simulator=None)
