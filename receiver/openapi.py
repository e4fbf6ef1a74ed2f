"""`GET /openapi.json`: the OpenAPI 3.1 document of the receiver's routes (`schemas.openapi`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from schemas.openapi import document


def routes() -> list[Route]:
    body = document()

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(body, headers={"cache-control": "public, max-age=300"})

    return [Route("/openapi.json", openapi, methods=["GET"])]
