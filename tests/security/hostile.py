"""A hostile vendor cloud on real loopback HTTP: it records every request (path as sent, headers) and
can answer with redirects, endless bodies and drips, counting the bytes it managed to send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


@dataclass(frozen=True)
class Seen:
    method: str
    raw_path: str  # as it arrived on the wire, before any decoding
    query: str
    headers: dict[str, str]


@dataclass
class Hostile:
    """What the server saw and how it answers any other path: `json[path]` as JSON, a path in `endless`
    or `drip` as those routes would (with their default parameters), else 404."""

    seen: list[Seen] = field(default_factory=list)
    json: dict[str, Any] = field(default_factory=dict)
    endless: set[str] = field(default_factory=set)
    drip: set[str] = field(default_factory=set)
    declare: bool = False  # endless answers declare their size (Content-Length)
    served_bytes: int = 0  # handed to the connection while the client was still connected

    def authorizations(self) -> list[str | None]:
        return [s.headers.get("authorization") for s in self.seen]


def create_app(state: Hostile) -> Starlette:
    async def record(request: Request) -> None:
        raw = request.scope.get("raw_path") or request.scope["path"].encode()
        state.seen.append(Seen(request.method, raw.decode("latin-1"),
                               request.scope.get("query_string", b"").decode("latin-1"),
                               dict(request.headers)))

    async def blob(request: Request) -> Response:
        await record(request)
        return Response(EMPTY_ZIP, media_type="application/zip")

    async def jpeg(request: Request) -> Response:
        await record(request)
        return Response(JPEG, media_type="image/jpeg")

    async def hop(request: Request) -> Response:
        await record(request)
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def endless(request: Request) -> Response:
        """`total` bytes of a JSON array in 64 KiB chunks; no Content-Length unless `declare`."""
        await record(request)
        total = int(request.query_params.get("total", str(256 * 1024**2)))
        chunk = b"0," * 32768

        async def body() -> AsyncIterator[bytes]:
            yield b"["
            sent = 1
            while sent < total and not await request.is_disconnected():
                step = chunk[: total - sent]
                state.served_bytes += len(step)
                sent += len(step)
                yield step

        declare = state.declare or request.query_params.get("declare")
        headers = {"content-length": str(total)} if declare else None
        return StreamingResponse(body(), media_type="application/json", headers=headers)

    async def drip(request: Request) -> Response:
        """One byte every `every` seconds, `total` bytes in all: never idle long enough for a read timeout."""
        await record(request)
        every = float(request.query_params.get("every", "0.02"))
        total = int(request.query_params.get("total", "100000"))
        headers_at = asyncio.get_running_loop().time() + float(request.query_params.get("headers_after", "0"))
        while asyncio.get_running_loop().time() < headers_at and not await request.is_disconnected():
            await asyncio.sleep(0.05)

        async def body() -> AsyncIterator[bytes]:
            for _ in range(total):
                if await request.is_disconnected():
                    return
                state.served_bytes += 1
                yield b" "
                await asyncio.sleep(every)

        return StreamingResponse(body(), media_type="application/json")

    async def answer(request: Request) -> Response:
        path = request.url.path
        if path in state.endless:
            return await endless(request)
        if path in state.drip:
            return await drip(request)
        await record(request)
        if path not in state.json:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(state.json[path])

    return Starlette(routes=[
        Route("/blob", blob), Route("/capture.jpg", jpeg), Route("/hop", hop), Route("/endless", endless),
        Route("/drip", drip), Route("/{path:path}", answer, methods=["GET", "POST"]),
    ])
