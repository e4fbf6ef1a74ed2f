"""Commands (DESIGN.md §10, README "Acting on vendors"): the command log of the state store — the latest
commands downstream services sent, their phase (started, awaiting the vendor, succeeded, failed) and
result (reason, message, vendor status, the ids they produced). Read only: commands are sent on the bus."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scanbridge.console.context import Console
from state.commandlog import CommandLog

SHOWN = 100


def routes(console: Console) -> list[Route]:
    async def listing(request: Request) -> Response:
        console.operator(request)
        q = request.query_params
        records = await CommandLog(console.store).recent(limit=10_000)
        wanted = [r for r in records
                  if (not q.get("vendor") or r.vendor == q["vendor"])
                  and (not q.get("phase") or r.phase == q["phase"])
                  and (not q.get("id") or q["id"] in (r.command_id, r.subject))]
        return console.page(request, "commands.html", {"page": "commands", "q": q, "rows": wanted[:SHOWN],
                                                       "more": max(0, len(wanted) - SHOWN)})

    return [Route("/commands", listing)]
