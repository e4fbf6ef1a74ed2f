"""Every record of a Medit Link search, page by page (meditlink-openapi.txt §3.3.1 Get Cases: dateCreated
window; §3.5.1 Get Orders: dateUpdated window, size ≤ 40, page ≤ 1000; §2.3.1: 204 = nothing found).
Shared by the poller and the worker's case/order resolution; a caller may stop early."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from consumers.clock import Clock
from consumers.meditlink.client import MAX_PAGE, MeditClient
from consumers.records import as_int, ci_get
from consumers.retry import retrying
from schemas.settings import RetrySettings

FUTURE_SLACK_MS = 86_400_000  # vendor clocks ahead of ours still fall inside a window ending "now"


async def records(client: MeditClient, kind: str, start_ms: int, end_ms: int, *, retry: RetrySettings,
                  clock: Clock) -> AsyncIterator[dict[str, Any]]:
    """Records of `orders/search` or `cases/search`, until 204, `last`, `totalPage` or the page cap."""
    for page in range(MAX_PAGE + 1):
        body = await retrying(partial(client.search, kind, start_ms, end_ms, page), policy=retry, clock=clock,
                              what=f"meditlink {kind}/search")
        content = ci_get(body, "content") if body else None
        if not isinstance(content, list) or not content:
            return
        for record in content:
            if isinstance(record, dict):
                yield record
        total = as_int(ci_get(body, "totalPage"))
        if str(ci_get(body, "last")).lower() == "true" or (total is not None and page + 1 >= total):
            return
