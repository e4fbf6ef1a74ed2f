"""Failure modes on demand: 429 with Retry-After and 5xx (meditlink-openapi.txt §2.3.1 HTTP status
codes, "API Request Throttling"), and slow answers; also records every request for assertions.
"""

from __future__ import annotations

import asyncio
import json
import math

from starlette.types import ASGIApp, Receive, Scope, Send

from simulators.meditlink.records import RequestRecord, iso_millis
from simulators.meditlink.state import MeditSimState

_ERRORS = {
    429: ("too_many_requests", "Too many requests"),
    500: ("internal_server_error", "Internal Server Error"),
}


class FaultInjector:
    """ASGI middleware applying `state.fail_next` / `state.slow_next` rules to every path but `/_sim`."""

    def __init__(self, app: ASGIApp, state: MeditSimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        self.state.requests.append(RequestRecord(method, path, scope.get("query_string", b"").decode()))
        delay, failure = self.state.take_faults(method, path)
        if delay:
            await asyncio.sleep(delay)
        if failure is None or failure.status is None:
            await self.app(scope, receive, send)
            return
        status = failure.status
        error, message = _ERRORS.get(status, ("error", "Simulated failure"))
        body = json.dumps(
            {
                "timestamp": iso_millis(self.state.now()),
                "status": status,
                "error": error,
                "message": message,
                "path": path,
            }
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if failure.retry_after is not None:
            headers.append((b"retry-after", str(math.ceil(failure.retry_after)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
