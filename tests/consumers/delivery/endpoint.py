"""A subscriber's endpoint for tests: verifies every delivery with the `standardwebhooks` library (as a
receiving service would), records what it accepted, and answers what the test's `answer` says."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Answer = Callable[[dict[str, Any], int], tuple[int, dict[str, str]]]  # (event, attempt n) → status, headers


@dataclass
class Received:
    webhook_id: str
    event: dict[str, Any]
    at: float  # monotonic, when it arrived


@dataclass
class Endpoint:
    secret: str
    answer: Answer = field(default=lambda event, n: (204, {}))
    accepted: list[Received] = field(default_factory=list)  # verified and answered 2xx
    attempts: list[Received] = field(default_factory=list)  # every verified request
    unverified: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            try:
                event = Webhook(self.secret).verify(body, dict(request.headers))
            except WebhookVerificationError:
                self.unverified += 1
                return Response(status_code=401)
            got = Received(request.headers["webhook-id"], event, time.monotonic())
            self.attempts.append(got)
            n = sum(1 for a in self.attempts if a.webhook_id == got.webhook_id)
            status, headers = self.answer(event, n)
            if 200 <= status < 300:
                self.accepted.append(got)
            self.changed.set()
            body = b"" if status == 204 else json.dumps({"ok": status < 300}).encode()
            return Response(body, status_code=status, headers=headers)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.accepted]

    def by_key(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.accepted:
            out.setdefault(r.event["partitionkey"], []).append(r.event["id"])
        return out

    async def until(self, condition: Callable[[], bool], rounds: int = 3000) -> None:
        """Wait until `condition()` holds (a bound against hangs, not a timing assertion)."""
        for _ in range(rounds):
            if condition():
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 0.05)
            except TimeoutError:
                pass
        raise AssertionError("condition never held")
