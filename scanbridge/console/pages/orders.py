"""Orders: search the orders index by vendor, account, order/Rx/case id or order code and date; one
order's timeline (every indexed event in order, with its version); its artifacts with download links
through the artifact route's code (audited); the patient fields hidden unless an admin reveals them
(audited: who revealed which order, never what it showed)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consumers.artifacts.route import serve_artifact
from scanbridge.console.context import Console
from state.base import OrderKey, OrderQuery


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    """A date (YYYY-MM-DD, UTC) or an ISO time from the search form; `end`: the day after a date."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"Not a date: {value[:40]!r} (YYYY-MM-DD).") from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if end and len(value) == 10:
        when = when.replace(hour=23, minute=59, second=59, microsecond=999999)
    return when


def _key(request: Request) -> OrderKey:
    q = request.query_params
    vendor, account, order = q.get("vendor"), q.get("account"), q.get("order")
    if not vendor or not account or not order:
        raise HTTPException(400, "Name the order: vendor, account and order.")
    return OrderKey(vendor, account, order)


def routes(console: Console) -> list[Route]:
    async def search(request: Request) -> Response:
        console.operator(request)
        q = request.query_params
        query = OrderQuery(vendor=q.get("vendor") or None, account=q.get("account") or None,
                           ident=(q.get("id") or "").strip() or None, since=_day(q.get("from")),
                           until=_day(q.get("to"), end=True))
        searched = any(q.get(k) for k in ("vendor", "account", "id", "from", "to", "all"))
        found = await console.store.orders.search(query) if searched else []
        return console.page(request, "orders.html", {"page": "orders", "q": q, "orders": found,
                                                     "searched": searched})

    async def show(request: Request, patient: object = None) -> Response:
        console.operator(request)
        key = _key(request)
        summary = await console.store.orders.get(key)
        if summary is None:
            raise HTTPException(404, f"No order {key} in the index.")
        timeline = await console.store.orders.timeline(key)
        artifacts = [item for item in timeline if item.type == "artifact.stored"]
        return console.page(request, "order.html", {"page": "orders", "order": summary, "key": key,
                                                    "timeline": timeline, "artifacts": artifacts,
                                                    "patient": patient})

    async def reveal(request: Request) -> Response:
        operator, _ = await console.form(request)
        key = _key(request)
        patient = await console.store.orders.patient(key)
        await console.audit(operator.name, "order.reveal_patient", str(key))
        return await show(request, patient or {})

    async def download(request: Request) -> Response:
        operator, _ = console.operator(request)
        if console.artifacts is None:
            raise HTTPException(404, "This console has no artifact store.")
        artifact_id = request.path_params["artifact_id"]
        await console.audit(operator.name, "artifact.download", artifact_id)
        return await serve_artifact(request, console.artifacts, console.store, artifact_id,
                                    console.settings.artifacts.presign_ttl_s, f"console={operator.name}")

    return [Route("/orders", search), Route("/order", show), Route("/order/reveal", reveal, methods=["POST"]),
            Route("/artifacts/{artifact_id}", download, methods=["GET"])]
