"""iTero / Align poller, the safety net next to the scan notification: every page of orders/practice
(iTero) or orders/lab (Align, ≥ 120 s apart), then latest-files for screen captures taken later. A change
at a new version becomes one `scan.notified` (learned_by="poll") with a deterministic id
(itero-dpms-api.txt Get Orders for Practice, Get List of Screen Captures; Align guideline §3.5, §3.7.1).

A `consumers.polling.Poller`: the runtime calls `poll(lease)` once per interval on the one instance that
holds the connection's lease; what it remembers — last-seen versions (`seen`), screen captures already
notified (`captures`), the capture cursor — lives in the state store, every write fenced by the lease."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from bus.base import Bus
from consumers.clock import Clock
from consumers.context import Shared
from consumers.errors import Unauthorized, VendorError
from consumers.itero import orderindex, pairing
from consumers.itero.client import IteroClient
from consumers.itero.normalize import version_of
from consumers.records import as_text, ci_get
from schemas import ids
from schemas.commands.itero import RX_LINK
from schemas.envelope import utcnow
from schemas.eventfactory import vendor_event
from schemas.events import ScanNotified
from schemas.settings import IteroConnection, Settings
from schemas.topics import SCAN_NOTIFIED
from state.base import Lease
from state.commandlog import CommandLog

log = logging.getLogger(__name__)

MAX_PAGES = 10_000  # a vendor that always says HasMore must not keep us paging forever
CAPTURE_MAX_DAYS = 90  # Get List of Screen Captures: more than 90 days back is cut to 90
SEEN, CAPTURES, CURSOR = "seen", "captures", "cursor"  # its maps and its cursor entry in the state store
FORGET_AFTER_DAYS = 30  # a last-seen version not confirmed for this long past the lookback is forgotten


def capture_date_from(today: date, cursor: str | None, first_days: int) -> date:
    """latest-files dateFrom: the cursor (or `first_days` back), never before the vendor's 90-day cap."""
    start = today - timedelta(days=first_days)
    if cursor:
        try:
            start = date.fromisoformat(cursor)
        except ValueError:
            pass
    return min(max(start, today - timedelta(days=CAPTURE_MAX_DAYS)), today)


def capture_id_of(file_url: str | None) -> str | None:
    """The screenCaptureID: the last segment of a `…/download/SCREEN_CAPTURE/:screenCaptureID` link."""
    if not file_url:
        return None
    parts = [p for p in urlsplit(file_url).path.split("/") if p]
    if len(parts) >= 2 and parts[-2].upper() == "SCREEN_CAPTURE":
        return parts[-1]
    return None


@dataclass
class PollResult:
    listed: int = 0
    pages: int = 0
    notified: int = 0
    captures_notified: int = 0
    skipped: str | None = None


class IteroPoller:
    """Polls one connection (see the module docstring)."""

    def __init__(self, settings: Settings, connection: IteroConnection, bus: Bus, http: httpx.AsyncClient,
                 *, clock: Clock, shared: Shared, today: Callable[[], date] | None = None) -> None:
        self.settings = settings
        self.connection = connection
        self.key = pairing.key_of(connection)
        self.interval_s = connection.poll_interval_s
        self.bus = bus
        self.clock = clock
        self.shared = shared
        self.state = shared.state
        self.client = IteroClient(connection, http, pairing.keeper(shared.keepers, connection,
                                                                   settings.worker.limits),
                                  settings.worker.limits)
        self.counters: dict[str, int] = defaultdict(int)
        self._today = today or (lambda: datetime.now(UTC).date())
        self.host = httpx.URL(connection.orders_url()).host

    @property
    def name(self) -> str:
        return f"{self.connection.vendor}/{self.connection.id}"

    async def poll(self, lease: Lease | None) -> str | None:
        result = await self.poll_once(lease)
        if result.notified or result.captures_notified:
            return f"{result.notified} orders, {result.captures_notified} captures notified"
        return f"skipped: {result.skipped}" if result.skipped else None

    async def close(self) -> None:
        return None

    async def poll_once(self, lease: Lease | None = None) -> PollResult:
        """List every page, then the screen captures; an un-paired connection is not called at all.
        What was published is remembered page by page, so a later failed call loses nothing."""
        if await pairing.unpaired(self.state, self.connection) is not None:
            return PollResult(skipped="unpaired")
        result = PollResult()
        try:
            await self._orders(result, lease)
            if self.connection.poll_screen_captures:
                await self._captures(result, lease)
        except Unauthorized as exc:  # the refresh was refused too: re-pairing needed (Align §3.8.2)
            await self._health(exc)
            await pairing.mark_unpaired(self.state, self.bus, self.settings.bus.topics, self.connection,
                                        str(exc))
            result.skipped = "unpaired"
            return result
        except VendorError as exc:
            await self._health(exc)
            raise
        await self._health(None)
        self.counters["polls"] += 1
        return result

    async def _health(self, error: VendorError | None) -> None:
        if error is None:
            await self.shared.health.ok(self.key)
        else:
            await self.shared.health.error(self.key, error)

    async def _orders(self, result: PollResult, lease: Lease | None) -> None:
        params: dict[str, Any] = {"pageSize": self.settings.poller.page_size}
        if self.connection.vendor == "itero":  # orders/lab documents no date filter
            since = self._today() - timedelta(days=self.settings.poller.lookback_days)
            params["dateFrom"] = since.isoformat()
        offset = 0
        for _ in range(MAX_PAGES):
            page = await self.client.list_orders(self.connection.orders_url(), {"Offset": offset, **params})
            records = [r for r in ci_get(page, "Results") or [] if isinstance(r, dict)]
            result.pages += 1
            result.listed += len(records)
            await self._page(records, result, lease)
            if not ci_get(page, "HasMore") or not records:
                break
            offset += len(records)
        keep_days = self.settings.poller.lookback_days + FORGET_AFTER_DAYS
        horizon = datetime.now(UTC) - timedelta(days=keep_days)
        await self.state.maps.prune(self.key, SEEN, horizon, fence=lease)

    async def _page(self, records: list[dict[str, Any]], result: PollResult, lease: Lease | None) -> None:
        """Publish what changed on one page, then remember it (and the OrderId → Rx index), one write each."""
        listed: list[tuple[str, str, str | None, dict[str, Any]]] = []
        for record in records:
            raw_rx = as_text(ci_get(record, "RxId"))
            if raw_rx is not None:
                listed.append((ids.rx_key(raw_rx), version_of(record), as_text(ci_get(record, "OrderId")),
                               record))
        seen = await self.state.maps.get(self.key, SEEN, [rx for rx, *_ in listed])
        changed: dict[str, str] = {}
        for rx_id, version, order_id, record in listed:
            if seen.get(rx_id) == version or changed.get(rx_id) == version:
                continue
            company = as_text(ci_get(record, "CompanyId")) if self.connection.vendor == "itero" else None
            await self._publish(pairing.account_of(self.connection, company), rx_id, version,
                                order_id=order_id, status=as_text(ci_get(record, "Status")))
            changed[rx_id] = version
            result.notified += 1
        index = {order_id: rx for rx, version, order_id, _ in listed
                 if order_id and changed.get(rx) == version}
        await orderindex.remember(self.state, self.connection, index, fence=lease)
        if changed:
            await self.state.maps.put(self.key, SEEN, changed, fence=lease)

    async def _captures(self, result: PollResult, lease: Lease | None) -> None:
        today = self._today()
        cursor = await self.state.entries.get(self.key, CURSOR)
        start = cursor.value.get("captures_from") if cursor and isinstance(cursor.value, dict) else None
        date_from = capture_date_from(today, start, self.settings.poller.capture_days)
        data = await self.client.latest_files(date_from.isoformat())
        found: list[tuple[str, str, str]] = []  # (order id, capture id, created)
        for entry in ci_get(data, "OrderFileUrls") or []:
            order_id = as_text(ci_get(entry, "OrderId"))
            urls = ci_get(entry, "Urls")
            for item in (ci_get(urls, "SCREEN_CAPTURE") if isinstance(urls, dict) else None) or []:
                capture_id = capture_id_of(as_text(ci_get(item, "FileUrl")))
                if order_id and capture_id:
                    found.append((order_id, capture_id,
                                  as_text(ci_get(item, "CreatedDate")) or today.isoformat()))
        known = await self.state.maps.get(self.key, CAPTURES, [c for _, c, _ in found])
        fresh = [f for f in found if f[1] not in known]
        rx_of = await orderindex.recall(self.state, self.connection, list({o for o, _, _ in fresh}))
        for order_id, capture_id, created in fresh:
            rx_id = rx_of.get(order_id)
            if rx_id is None:  # an order we never saw: tried again while it is in the window
                self.counters["captures_unmatched"] += 1
                continue
            await self._publish(pairing.account_of(self.connection), rx_id, f"capture/{capture_id}",
                                order_id=order_id, file_id=capture_id)
            await self.state.maps.put(self.key, CAPTURES, {capture_id: created}, fence=lease)
            result.captures_notified += 1
        overlap = (today - timedelta(days=1)).isoformat()  # one day of overlap
        await self.state.entries.put(self.key, CURSOR, {"captures_from": overlap}, fence=lease)
        horizon = datetime.combine(date_from - timedelta(days=1), datetime.min.time(), UTC)
        await self.state.maps.prune(self.key, CAPTURES, horizon, fence=lease)

    async def _publish(self, account: str, rx_id: str, version: str, **ids_: str | None) -> None:
        """Built like the receiver's: same partition key, so a webhook and a poll of one order line up."""
        now = utcnow()
        rx_id = ids.rx_key(rx_id)  # also an index entry written before ids had one spelling
        command_id = await CommandLog(self.state).linked(self.connection.vendor, self.connection.id, RX_LINK,
                                                         rx_id)  # the Rx a scan_request command pushed
        notified = ScanNotified(vendor=self.connection.vendor, account=account, connection=self.connection.id,
                                rx_id=rx_id, learned_by="poll", received_at=now, version=version,
                                command_id=command_id, **ids_)
        await self.bus.publish(self.settings.bus.topics.events, vendor_event(
            SCAN_NOTIFIED, vendor=notified.vendor, account=account, subject=rx_id, version=version,
            data=notified.model_dump(mode="json"), time=now,
        ))
        self.counters["published"] += 1

def build_poller(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock, shared: Shared,
                 connection: object) -> IteroPoller | None:
    """The poller of an iTero / Align connection that has polling on (the runtime asks for each)."""
    if isinstance(connection, IteroConnection) and connection.poll:
        return IteroPoller(settings, connection, bus, http, clock=clock, shared=shared)
    return None
