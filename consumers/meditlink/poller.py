"""Medit Link poller: new and changed orders and cases → `scan.notified` (meditlink-openapi.txt §3.5.1
Get Orders: dateUpdated window in ms, size ≤ 40, page ≤ 1000; §3.3.1 Get Cases: dateCreated window;
§2.3.1: 204 = empty page, 429 throttled). No order/case webhooks exist (DESIGN.md §1).

The cursor and what was announced (subject → version) persist in `state_dir`, so a restart or an
overlapping window announces nothing that did not change; event ids are deterministic too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from bus.base import Bus
from consumers.clock import Clock, sleep_or_stop
from consumers.context import Shared
from consumers.cursor import JsonState
from consumers.errors import VendorError
from consumers.meditlink import search
from consumers.meditlink.client import MeditClient
from consumers.meditlink.oauth import VENDOR, ReauthorizationRequired, keeper, key_of, require_usable
from consumers.meditlink.reauth import clear_reported, report_if_expiring, report_unusable
from consumers.meditlink.search import FUTURE_SLACK_MS
from consumers.metrics import poll_outcome
from consumers.records import as_text, as_utc, ci_get
from consumers.retry import RetriesExhausted
from schemas.envelope import utcnow
from schemas.eventfactory import vendor_event
from schemas.events import ScanNotified
from schemas.settings import MeditConnection, RetrySettings, Settings
from schemas.topics import SCAN_NOTIFIED, Topics

log = logging.getLogger(__name__)



@dataclass
class Cursor:
    orders_from_ms: int | None = None
    seen: dict[str, str] = field(default_factory=dict)  # "order:<n>" / "case:<uuid>" → version
    seen_at: dict[str, int] = field(default_factory=dict)  # key → the record's date (ms), for pruning
    ordered_cases: dict[str, str] = field(default_factory=dict)  # case uuid → order number

    @classmethod
    def load(cls, file: JsonState) -> Cursor:
        raw = file.load()
        return cls(raw.get("orders_from_ms"), dict(raw.get("seen", {})), dict(raw.get("seen_at", {})),
                   dict(raw.get("ordered_cases", {})))

    def save(self, file: JsonState) -> None:
        file.save(self.__dict__)

    def prune(self, prefix: str, before_ms: int) -> None:
        for key in [k for k, at in self.seen_at.items() if k.startswith(prefix) and at < before_ms]:
            self.seen.pop(key, None)
            self.seen_at.pop(key, None)


def cursor_file(state_dir: Path, connection: MeditConnection) -> JsonState:
    return JsonState(state_dir / "pollers" / f"{VENDOR}-{connection.id}.json")


def known_order(state_dir: Path, connection: MeditConnection, case_uuid: str) -> str | None:
    """The order number the poller saw `case_uuid` in (orders/search carries `case.uuid`), if any."""
    ordered = cursor_file(state_dir, connection).load().get("ordered_cases")
    number = as_text(ordered.get(case_uuid)) if isinstance(ordered, dict) else None
    return number if number and number != "0" else None  # 0: an older cursor's unreadable number


class MeditPoller:
    def __init__(self, client: MeditClient, bus: Bus, topics: Topics, retry: RetrySettings, clock: Clock,
                 state_dir: Path, shared: Shared) -> None:
        self.client = client
        self.shared = shared
        self.key = key_of(client.connection)
        self.connection: MeditConnection = client.connection
        self._bus = bus
        self._topics = topics
        self._retry = retry
        self._clock = clock
        self._state_dir = state_dir
        self.file = cursor_file(state_dir, self.connection)
        self.cursor = Cursor.load(self.file)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; one failed round is logged and the next one tries again."""
        structlog.contextvars.bind_contextvars(connection=f"{VENDOR}/{self.connection.id}")
        host = httpx.URL(self.connection.api_url).host
        while not stop.is_set():
            try:
                await self.poll_once()
                poll_outcome(VENDOR, self.connection.id, True, time.time())
            except ReauthorizationRequired:
                poll_outcome(VENDOR, self.connection.id, False, time.time())
                log.warning("medit link poller paused: connection needs re-authorization",
                            extra={"connection": self.connection.id})
            except Exception as exc:  # noqa: BLE001 - the top-level loop: log, count, go on
                poll_outcome(VENDOR, self.connection.id, False, time.time())
                log.warning("medit link poll %s (%s) failed: %s", self.connection.id, host,
                            type(exc).__name__, extra={"host": host})
            await sleep_or_stop(self._clock, self.connection.poll_interval_s, stop)

    async def poll_once(self) -> int:
        """One round: orders then cases; returns how many `scan.notified` were published."""
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
        overlap = int(self.connection.poll_overlap_s * 1000)
        start = max(0, (self.cursor.orders_from_ms or now_ms - overlap) - overlap)
        published = 0
        for record in await self._pages("orders", start, now_ms + FUTURE_SLACK_MS):
            number = as_text(ci_get(record, "orderNumber"))
            if not number:
                continue
            case = ci_get(record, "case") or {}
            case_id = as_text(ci_get(case, "uuid")) if isinstance(case, dict) else None
            if case_id:
                self.cursor.ordered_cases[case_id] = number  # read by the worker: `known_order`
            status = as_text(ci_get(record, "status"))
            version = f"{as_text(ci_get(record, 'dateUpdated'))}|{status}|{as_text(ci_get(case, 'status'))}"
            updated = as_utc(ci_get(record, "dateUpdated"))
            at = int(updated.timestamp() * 1000) if updated else now_ms
            published += await self._announce(account, f"order:{number}", version, at,
                                              order_id=number, case_id=case_id, status=status)
        self.cursor.orders_from_ms = now_ms
        self.cursor.prune("order:", start - overlap)
        self.cursor.save(self.file)
        return published

    async def _cases(self, account: str, now_ms: int) -> int:
        """Cases filter on dateCreated, so a horizon of recent cases is re-read and diffed by version."""
        start = max(0, now_ms - int(self.connection.case_horizon_days * 86_400_000))
        published = 0
        for record in await self._pages("cases", start, now_ms + FUTURE_SLACK_MS):
            case_id = as_text(ci_get(record, "uuid"))
            if not case_id or case_id in self.cursor.ordered_cases:
                continue  # an ordered case is announced through its order
            status = as_text(ci_get(record, "status"))
            version = f"{as_text(ci_get(record, 'dateUpdated'))}|{status}"
            created = as_utc(ci_get(record, "dateCreated"))
            at = int(created.timestamp() * 1000) if created else now_ms
            published += await self._announce(account, f"case:{case_id}", version, at,
                                              case_id=case_id, status=status)
        self.cursor.prune("case:", start)
        self.cursor.save(self.file)
        return published

    async def _announce(self, account: str, key: str, version: str, at_ms: int, *, case_id: str | None,
                        status: str | None, order_id: str | None = None) -> int:
        if self.cursor.seen.get(key) == version:
            return 0
        subject = order_id or case_id or key
        notified = ScanNotified(vendor=VENDOR, account=account, connection=self.connection.id,
                                order_id=order_id, case_id=case_id, status=status, learned_by="poll",
                                received_at=utcnow(), version=version)
        event = vendor_event(SCAN_NOTIFIED, vendor=VENDOR, account=account, subject=subject, version=version,
                             data=notified.model_dump(mode="json"))
        await self._bus.publish(self._topics.events, event)
        self.cursor.seen[key] = version
        self.cursor.seen_at[key] = at_ms
        return 1


def build_pollers(settings: Settings, bus: Bus, http: httpx.AsyncClient, clock: Clock,
                  shared: Shared) -> list[MeditPoller]:
    """One poller per Medit Link connection of the catalog (there are no order or case webhooks)."""
    limits = settings.worker.limits
    return [MeditPoller(MeditClient(c, http, keeper(shared.keepers, c, limits), limits), bus,
                        settings.bus.topics, settings.worker.retry, clock, settings.state_dir, shared)
            for c in shared.catalog.of(MeditConnection)]
