"""`GET /asyncapi.json`: the event contract (AsyncAPI 3.0) for this deployment's topic names (README
"Events"). Built once when the app is made; it holds no secrets and no broker address."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from schemas.asyncapi import document
from schemas.settings import Settings


def routes(settings: Settings) -> list[Route]:
    body = document(settings.bus.topics)

    async def asyncapi(request: Request) -> JSONResponse:
        return JSONResponse(body, headers={"cache-control": "public, max-age=300"})

    return [Route("/asyncapi.json", asyncapi, methods=["GET"])]
