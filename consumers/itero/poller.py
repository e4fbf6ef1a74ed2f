"""iTero / Align poller, the safety net next to the scan notification: every page of orders/practice
(iTero) or orders/lab (Align, ≥ 120 s apart), then latest-files for screen captures taken later. A change
at a new version becomes one `scan.notified` (learned_by="poll") with a deterministic id
(itero-dpms-api.txt Get Orders for Practice, Get List of Screen Captures; Align guideline §3.5, §3.7.1)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from bus.base import Bus
from consumers.clock import Clock, sleep_or_stop
from consumers.context import Shared
from consumers.cursor import JsonState
from consumers.errors import Unauthorized, VendorError
from consumers.itero import orderindex, pairing
from consumers.itero.client import IteroClient
from consumers.itero.normalize import version_of
from consumers.metrics import poll_outcome
from consumers.records import as_text, as_utc, ci_get
from consumers.storage import safe_component
from schemas import ids
from schemas.envelope import utcnow
from schemas.eventfactory import vendor_event
from schemas.events import ScanNotified
from schemas.settings import IteroConnection, Settings
from schemas.topics import SCAN_NOTIFIED

log = logging.getLogger(__name__)

MAX_PAGES = 10_000  # a vendor that always says HasMore must not keep us paging forever
MAX_REMEMBERED = 50_000  # last-seen versions kept per connection
CAPTURE_MAX_DAYS = 90  # Get List of Screen Captures: more than 90 days back is cut to 90


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
    """Polls one connection; state (last-seen versions, capture cursor) lives in `state_dir/pollers/`."""

    def __init__(self, settings: Settings, connection: IteroConnection, bus: Bus, http: httpx.AsyncClient,
                 *, clock: Clock, shared: Shared, today: Callable[[], date] | None = None) -> None:
        self.settings = settings
        self.connection = connection
        self.bus = bus
        self.clock = clock
        self.shared = shared
        self.state = shared.state
        self.client = IteroClient(connection, http, pairing.keeper(shared.keepers, connection),
                                  settings.worker.limits)
        self.cursor = JsonState(settings.state_dir / "pollers"
                                / f"{connection.vendor}-{safe_component(connection.id)}.json")
        self.counters: dict[str, int] = defaultdict(int)
        self._today = today or (lambda: datetime.now(UTC).date())

    @property
    def name(self) -> str:
        return f"{self.connection.vendor}/{self.connection.id}"

    async def poll_once(self) -> PollResult:
        """List every page, then the screen captures; an un-paired connection is not called at all."""
        if await pairing.unpaired(self.state, self.connection) is not None:
            return PollResult(skipped="unpaired")
        state = self.cursor.load()
        result = PollResult()
        try:
            await self._orders(state, result)
            if self.connection.poll_screen_captures:
                await self._captures(state, result)
        except Unauthorized as exc:  # the refresh was refused too: re-pairing needed (Align §3.8.2)
            await self._health(exc)
            await pairing.mark_unpaired(self.state, self.bus, self.settings.bus.topics, self.connection,
                                        str(exc))
            result.skipped = "unpaired"
            return result
        except VendorError as exc:
            await self._health(exc)
            raise
        finally:
            self.cursor.save(state)  # what was published is remembered even when a later call failed
        await self._health(None)
        self.counters["polls"] += 1
        return result

    async def _health(self, error: VendorError | None) -> None:
        key = pairing.key_of(self.connection)
        if error is None:
            await self.shared.health.ok(key)
        else:
            await self.shared.health.error(key, error)

    async def _orders(self, state: dict[str, Any], result: PollResult) -> None:
        seen: dict[str, Any] = state.setdefault("orders", {})
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
            for record in records:
                await self._seen(record, seen, result)
            self.cursor.save(state)
            if not ci_get(page, "HasMore") or not records:
                break
            offset += len(records)
        while len(seen) > MAX_REMEMBERED:
            seen.pop(next(iter(seen)))
        state["last_poll_at"] = utcnow().isoformat()

    async def _seen(self, record: dict[str, Any], seen: dict[str, Any], result: PollResult) -> None:
        raw_rx = as_text(ci_get(record, "RxId"))
        if raw_rx is None:
            return
        rx_id = ids.rx_key(raw_rx)
        order_id = as_text(ci_get(record, "OrderId"))
        version = version_of(record)
        if order_id:
            await orderindex.remember(self.state, self.connection, {order_id: rx_id})
        if (seen.get(rx_id) or {}).get("version") == version:
            return
        company = as_text(ci_get(record, "CompanyId")) if self.connection.vendor == "itero" else None
        await self._publish(pairing.account_of(self.connection, company), rx_id, version,
                            order_id=order_id, status=as_text(ci_get(record, "Status")))
        seen.pop(rx_id, None)
        seen[rx_id] = {"version": version, "order_id": order_id}  # newest last, for pruning
        result.notified += 1

    async def _captures(self, state: dict[str, Any], result: PollResult) -> None:
        known: dict[str, str] = state.setdefault("captures", {})
        today = self._today()
        date_from = capture_date_from(today, state.get("captures_from"), self.settings.poller.capture_days)
        data = await self.client.latest_files(date_from.isoformat())
        for entry in ci_get(data, "OrderFileUrls") or []:
            order_id = as_text(ci_get(entry, "OrderId"))
            urls = ci_get(entry, "Urls")
            for item in (ci_get(urls, "SCREEN_CAPTURE") if isinstance(urls, dict) else None) or []:
                capture_id = capture_id_of(as_text(ci_get(item, "FileUrl")))
                if not order_id or not capture_id or capture_id in known:
                    continue
                rx_id = (await orderindex.recall(self.state, self.connection, [order_id])).get(order_id)
                if rx_id is None:  # an order we never saw: tried again while it is in the window
                    self.counters["captures_unmatched"] += 1
                    continue
                await self._publish(pairing.account_of(self.connection), rx_id, f"capture/{capture_id}",
                                    order_id=order_id, file_id=capture_id)
                known[capture_id] = as_text(ci_get(item, "CreatedDate")) or today.isoformat()
                result.captures_notified += 1
        state["captures_from"] = (today - timedelta(days=1)).isoformat()  # one day of overlap
        horizon = datetime.combine(date_from - timedelta(days=1), datetime.min.time(), UTC)
        for capture_id, created in list(known.items()):
            when = as_utc(created)
            if when is not None and when < horizon:
                del known[capture_id]

    async def _publish(self, account: str, rx_id: str, version: str, **ids_: str | None) -> None:
        """Built like the receiver's: same partition key, so a webhook and a poll of one order line up."""
        now = utcnow()
        rx_id = ids.rx_key(rx_id)  # also an index entry written before ids had one spelling
        notified = ScanNotified(vendor=self.connection.vendor, account=account, connection=self.connection.id,
                                rx_id=rx_id, learned_by="poll", received_at=now, version=version, **ids_)
        await self.bus.publish(self.settings.bus.topics.events, vendor_event(
            SCAN_NOTIFIED, vendor=notified.vendor, account=account, subject=rx_id, version=version,
            data=notified.model_dump(mode="json"), time=now,
        ))
        self.counters["published"] += 1

    def _first_wait_s(self) -> float:
        """After a restart, keep the interval since the last poll (orders/lab: ≥ 120 s, Align §3.7.1)."""
        last = as_utc(self.cursor.load().get("last_poll_at"))
        if last is None:
            return 0.0
        elapsed = (utcnow() - last).total_seconds()
        return max(0.0, min(self.connection.poll_interval_s, self.connection.poll_interval_s - elapsed))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop`; a failing call is logged and counted, and the next poll comes on schedule."""
        structlog.contextvars.bind_contextvars(connection=self.name)  # every line of this task names it
        host = urlsplit(self.connection.orders_url()).hostname
        await sleep_or_stop(self.clock, self._first_wait_s(), stop)
        while not stop.is_set():
            try:
                result = await self.poll_once()
                poll_outcome(self.connection.vendor, self.connection.id, True, time.time())
                if result.notified or result.captures_notified:
                    log.info("poll %s: %d orders, %d captures notified", self.name, result.notified,
                             result.captures_notified)
            except Exception as exc:  # noqa: BLE001 - one connection's failure never stops the loop
                self.counters["errors"] += 1
                poll_outcome(self.connection.vendor, self.connection.id, False, time.time())
                log.warning("poll %s (%s) failed: %s: %s", self.name, host, type(exc).__name__, exc,
                            extra={"host": host})
            await sleep_or_stop(self.clock, self.connection.poll_interval_s, stop)


def build_pollers(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock,
                  shared: Shared) -> list[IteroPoller]:
    """One poller per iTero / Align connection of the catalog that has polling on."""
    return [IteroPoller(settings, c, bus, http, clock=clock, shared=shared)
            for c in shared.catalog.of(IteroConnection) if c.poll]
