"""Medit Link poller: new and changed orders and cases → `scan.notified` (meditlink-openapi.txt §3.5.1
Get Orders: dateUpdated window in ms, size ≤ 40, page ≤ 1000; §3.3.1 Get Cases: dateCreated window;
§2.3.1: 204 = empty page, 429 throttled). No order/case webhooks exist (DESIGN.md §1).

A `consumers.polling.Poller`, run on the instance that holds the connection's lease. The order window's
cursor and what was announced (subject → version) live in the state store, every write fenced by the
lease, so a restart, a takeover or an overlapping window announces nothing that did not change; event ids
are deterministic too. The case → order number index (`ordered_cases`) is read by the worker's resolver.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bus.base import Bus
from consumers.clock import Clock
from consumers.context import Shared
from consumers.errors import VendorError
from consumers.meditlink import search
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import VENDOR, ReauthorizationRequired, keeper, key_of, require_usable
from consumers.meditlink.reauth import clear_reported, report_if_expiring, report_unusable
from consumers.meditlink.search import FUTURE_SLACK_MS
from consumers.records import as_text, ci_get
from consumers.retry import RetriesExhausted
from schemas.envelope import utcnow
from schemas.eventfactory import vendor_event
from schemas.events import ScanNotified
from schemas.settings import MeditConnection, RetrySettings, Settings
from schemas.topics import SCAN_NOTIFIED, Topics
from state.base import Lease, StateStore

log = logging.getLogger(__name__)



CURSOR, ORDERS_SEEN, CASES_SEEN, ORDERED_CASES = "cursor", "seen.orders", "seen.cases", "ordered_cases"


async def known_order(state: StateStore, connection: MeditConnection, case_uuid: str) -> str | None:
    """The order number the poller saw `case_uuid` in (orders/search carries `case.uuid`), if any."""
    number = (await state.maps.get(key_of(connection), ORDERED_CASES, [case_uuid])).get(case_uuid)
    return number if number and number != "0" else None  # 0: an older cursor's unreadable number


class MeditPoller:
    def __init__(self, client: MeditClient, bus: Bus, topics: Topics, retry: RetrySettings, clock: Clock,
                 shared: Shared) -> None:
        self.client = client
        self.shared = shared
        self.key = key_of(client.connection)
        self.connection: MeditConnection = client.connection
        self.interval_s = self.connection.poll_interval_s
        self.host = httpx.URL(self.connection.api_url).host
        self._bus = bus
        self._topics = topics
        self._retry = retry
        self._clock = clock
        self._lease: Lease | None = None

    async def poll(self, lease: Lease | None) -> str | None:
        published = await self.poll_once(lease)
        return f"{published} orders and cases notified" if published else None

    async def close(self) -> None:
        return None

    async def poll_once(self, lease: Lease | None = None) -> int:
        """One round: orders then cases; returns how many `scan.notified` were published."""
        self._lease = lease
        state = self.shared.state
        try:
            await require_usable(state, self.connection)
            account = await self.client.group_uuid()
            await report_if_expiring(self._bus, self._topics, state, self.client.tokens, self.connection)
            now_ms = int(time.time() * 1000)
            published = await self._orders(account, now_ms)
            if self.connection.poll_cases:
                published += await self._cases(account, now_ms)
        except ReauthorizationRequired as exc:
            await self.shared.health.error(self.key, exc)
            await report_unusable(self._bus, self._topics, state, self.connection)
            raise
        except (VendorError, RetriesExhausted) as exc:
            await self.shared.health.error(self.key, exc)
            raise
        await clear_reported(state, self.connection)
        await self.shared.health.ok(self.key)
        return published

    async def _pages(self, kind: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        return [r async for r in search.records(self.client, kind, start_ms, end_ms, retry=self._retry,
                                                clock=self._clock)]

    async def _orders(self, account: str, now_ms: int) -> int:
        state, fence = self.shared.state, self._lease
        cursor = await state.entries.get(self.key, CURSOR)
        from_ms = cursor.value.get("orders_from_ms") if cursor and isinstance(cursor.value, dict) else None
        overlap = int(self.connection.poll_overlap_s * 1000)
        start = max(0, (from_ms if isinstance(from_ms, int) else now_ms - overlap) - overlap)
        records = await self._pages("orders", start, now_ms + FUTURE_SLACK_MS)
        found: list[tuple[str, str, str | None, str | None]] = []  # number, version, case, status
        ordered: dict[str, str] = {}
        for record in records:
            number = as_text(ci_get(record, "orderNumber"))
            if not number:
                continue
            case = ci_get(record, "case") or {}
            case_id = as_text(ci_get(case, "uuid")) if isinstance(case, dict) else None
            if case_id:
                ordered[case_id] = number  # read by the worker: `known_order`
            status = as_text(ci_get(record, "status"))
            version = f"{as_text(ci_get(record, 'dateUpdated'))}|{status}|{as_text(ci_get(case, 'status'))}"
            found.append((number, version, case_id, status))
        if ordered:
            await state.maps.put(self.key, ORDERED_CASES, ordered, fence=fence)
        seen = await state.maps.get(self.key, ORDERS_SEEN, [n for n, *_ in found])
        published = 0
        for number, version, case_id, status in found:
            if seen.get(number) == version:
                continue
            await self._announce(account, ORDERS_SEEN, number, version, order_id=number, case_id=case_id,
                                 status=status)
            seen[number] = version
            published += 1
        await state.entries.put(self.key, CURSOR, {"orders_from_ms": now_ms}, fence=fence)
        await state.maps.prune(self.key, ORDERS_SEEN, _at(start - overlap), fence=fence)
        return published

    async def _cases(self, account: str, now_ms: int) -> int:
        """Cases filter on dateCreated, so a horizon of recent cases is re-read and diffed by version."""
        state, fence = self.shared.state, self._lease
        start = max(0, now_ms - int(self.connection.case_horizon_days * 86_400_000))
        found: list[tuple[str, str, str | None]] = []  # uuid, version, status
        for record in await self._pages("cases", start, now_ms + FUTURE_SLACK_MS):
            case_id = as_text(ci_get(record, "uuid"))
            if case_id:
                status = as_text(ci_get(record, "status"))
                found.append((case_id, f"{as_text(ci_get(record, 'dateUpdated'))}|{status}", status))
        ids = [c for c, *_ in found]
        ordered = await state.maps.get(self.key, ORDERED_CASES, ids)
        seen = await state.maps.get(self.key, CASES_SEEN, ids)
        published = 0
        for case_id, version, status in found:
            if case_id in ordered or seen.get(case_id) == version:
                continue  # an ordered case is announced through its order
            await self._announce(account, CASES_SEEN, case_id, version, case_id=case_id, status=status)
            seen[case_id] = version
            published += 1
        await state.maps.prune(self.key, CASES_SEEN, _at(start), fence=fence)
        return published

    async def _announce(self, account: str, seen: str, item: str, version: str, *, case_id: str | None,
                        status: str | None, order_id: str | None = None) -> None:
        """Publish, then remember the version (fenced: a round of a lease taken over writes nothing)."""
        subject = order_id or case_id or item
        notified = ScanNotified(vendor=VENDOR, account=account, connection=self.connection.id,
                                order_id=order_id, case_id=case_id, status=status, learned_by="poll",
                                received_at=utcnow(), version=version)
        event = vendor_event(SCAN_NOTIFIED, vendor=VENDOR, account=account, subject=subject, version=version,
                             data=notified.model_dump(mode="json"))
        await self._bus.publish(self._topics.events, event)
        await self.shared.state.maps.put(self.key, seen, {item: version}, fence=self._lease)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(max(0, ms) / 1000, UTC)


def build_poller(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock, shared: Shared,
                 connection: object) -> MeditPoller | None:
    """The poller of a Medit Link connection (there are no order or case webhooks to rely on)."""
    if not isinstance(connection, MeditConnection):
        return None
    limits = settings.worker.limits
    return MeditPoller(MeditClient(connection, http, keeper(shared.keepers, connection, limits), limits), bus,
                       settings.bus.topics, settings.worker.retry, clock, shared)
