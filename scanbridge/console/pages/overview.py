"""GET /: the overview — webhooks per minute by vendor, consumer lag, spool depth (the figures of
`/metrics`), dead letters waiting (the dead-letter topic), connections failing or needing
re-authorization (the state store's health) and the latest audited actions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bus.deadletter import pending
from scanbridge.commands.connections import _row
from scanbridge.console.context import Console
from scanbridge.console.deadletter_reading import dead_letters


async def connection_rows(console: Console) -> list[dict[str, object]]:
    store = console.store
    return [await _row(store, key, model) for key, model in console.shared.catalog.items()]


def routes(console: Console) -> list[Route]:
    figures = console.figures

    async def overview(request: Request) -> Response:
        console.operator(request)
        reading = await figures.read()
        rows = await connection_rows(console)
        letters = await dead_letters(console.bus, console.settings.bus.topics.deadletter)
        troubled = [r for r in rows if r["health"] == "failing" or r["status"] in
                    ("unpaired", "needs re-authorization", "not connected yet")]
        return console.page(request, "overview.html", {
            "page": "overview", "reading": reading, "per_minute": figures.per_minute(reading),
            "connections": rows, "troubled": troubled, "dead_letters": len(letters),
            "dead_letters_waiting": len(pending(letters)),
            "audit": await console.store.audit.recent(10)})

    return [Route("/", overview)]
