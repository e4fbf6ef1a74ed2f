"""A loopback proxy in front of the real S3 server that answers chosen requests with an S3 error
(503 SlowDown, 500, 403…) and forwards the rest unchanged (the Host header too, so signatures hold)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import serve

Rule = Callable[[Request], Response | None]
_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


def s3_error(status: int, code: str) -> Response:
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>x</Message></Error>"
    return Response(body, status_code=status, media_type="application/xml")


@dataclass
class FaultProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    injected: int = 0

    async def forward(self, request: Request) -> Response:
        self.seen.append(request)
        for rule in self.rules:
            answer = rule(request)
            if answer is not None:
                self.injected += 1
                return answer
        headers = [(k, v) for k, v in request.headers.items() if k not in _HOP]
        url = f"{self.upstream}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(request.method, url, headers=headers, content=await request.body())
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP
                or (request.method == "HEAD" and k.lower() == "content-length")}  # HEAD: the object's size
        return Response(answer.content, status_code=answer.status_code, headers=kept)


@asynccontextmanager
async def fault_proxy(upstream: str) -> AsyncIterator[tuple[str, FaultProxy]]:
    proxy = FaultProxy(upstream)
    methods = ["GET", "PUT", "POST", "DELETE", "HEAD"]
    app = Starlette(routes=[Route("/{path:path}", proxy.forward, methods=methods)])
    async with serve(app) as url:
        yield url, proxy
