"""Dead letters: the dead-letter topic's letters with filters (vendor, type, reason, since, retried or
not), one letter's original event, reason and attempts, and retry of one or many (`scanbridge dlq retry`:
the original event published again on its topic, a `deadletter.retried` marker after it)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bus.deadletter import Entry, retry
from scanbridge.commands.dlq import _selected, parse_since, summary
from scanbridge.console.context import Console
from scanbridge.console.deadletter_reading import dead_letters


def routes(console: Console) -> list[Route]:
    topic = console.settings.bus.topics.deadletter

    async def letters() -> list[Entry]:
        return await dead_letters(console.bus, topic)

    async def listing(request: Request) -> Response:
        console.operator(request)
        q = request.query_params
        try:
            since = parse_since(q["since"]) if q.get("since") else None
        except Exception:  # noqa: BLE001 - typer's BadParameter or ValueError: either way a bad filter
            raise HTTPException(400, "since: an ISO 8601 time or an age like 90m, 12h, 7d.") from None
        entries = [e for e in await letters()
                   if _selected(e, q.get("vendor") or None, q.get("type") or None, q.get("reason") or None,
                                since) and (q.get("retried") == "yes" or not e.retried)]
        return console.page(request, "deadletters.html", {
            "page": "deadletters", "q": q, "rows": [summary(e) for e in entries],
            "note": q.get("note")})

    async def show(request: Request) -> Response:
        console.operator(request)
        ident = request.path_params["ident"]
        found = [e for e in await letters() if e.event.id == ident]
        if not found:
            raise HTTPException(404, "No such dead letter.")
        entry = found[0]
        original = entry.letter.original.model_dump(mode="json")
        return console.page(request, "deadletter.html", {
            "page": "deadletters", "row": summary(entry), "letter": entry.letter,
            "original": json.dumps(original, indent=2)})

    async def retry_many(request: Request) -> Response:
        operator, form = await console.form(request)
        wanted = set(form.getlist("id"))
        if not wanted:
            raise HTTPException(400, "Tick the dead letters to retry.")
        if console.bus is None:
            raise HTTPException(503, "This console has no bus.")
        chosen = [e for e in await letters() if e.event.id in wanted]
        for entry in chosen:
            again = await retry(console.bus, topic, entry)
            await console.audit(operator.name, "deadletter.retry", entry.event.id,
                                {"original": entry.letter.original.id, "topic": entry.letter.original.topic,
                                 "retry": again.extensions.get("dlqretry")})
        return RedirectResponse(f"/deadletters?note={len(chosen)}+retried", 303)

    return [Route("/deadletters", listing), Route("/deadletters/retry", retry_many, methods=["POST"]),
            Route("/deadletters/{ident}", show)]
