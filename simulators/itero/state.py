"""The simulated iTero cloud's state: tokens, orders, their files and later screen captures, injected
failures; time comes from an injectable clock so tests can move it (itero-dpms-api.txt)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulators.itero.rx import ScanRequests
from simulators.pollwatch import PollWatch

ALIGN_LAB_MIN_POLL_S = 120.0  # Align lab guideline §3.7.1: orders/lab no more often than every 120 s
STATUSES = ("Completed", "iTero Modeling", "Lab Review", "Scanning", "iTero Milling",
            "Exporting to Doctor Site", "Align Production")


@dataclass
class SimCapture:
    """A screen capture taken after the scan (Get List of Screen Captures: FileUrl, CreatedDate)."""

    capture_id: str
    created: datetime


@dataclass
class SimOrder:
    rx_id: str
    order_id: int
    company_id: int
    status: str = "Completed"
    scanning_date: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    revision: int = 0
    size: int = 64 * 1024
    screen_captures: bool = False
    not_ready_for_s: float = 0.0
    ready_at: float | None = None  # set by the first download call (404 triggers generation)
    listed_for_lab: bool = True
    patient_first: str = "Jane"
    patient_last: str = "Doe"
    patient_chart: str = "CH-1"
    notes: str | None = None  # the doctor's free text (Notes), as long as the doctor likes
    extra: dict[str, Any] = field(default_factory=dict)  # fields the doc does not list (vendors add some)
    captures: list[SimCapture] = field(default_factory=list)


@dataclass
class Failure:
    path_contains: str
    status: int
    remaining: int


@dataclass
class IteroSimState:
    workdir: Path
    base_url: str = "http://127.0.0.1"
    discovery_path: str = "dpms/v2"
    access_ttl_s: float = 3600.0
    company_id: int = 4242
    company_name: str = "Smile Dental"
    orders: dict[str, SimOrder] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (monotonic)
    refresh_tokens: set[str] = field(default_factory=set)
    spent_refresh_tokens: set[str] = field(default_factory=set)  # used once: refused ever after (rotation)
    refresh_reuse: int = 0  # a spent refresh token presented again: two refreshes of one grant
    practice_polls: PollWatch = field(default_factory=PollWatch)  # orders/practice, per CompanyId
    lab_polls: PollWatch = field(default_factory=lambda: PollWatch(min_interval_s=ALIGN_LAB_MIN_POLL_S))
    failures: list[Failure] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    queries: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, query parameters)
    paired: bool = True
    unpair_on: str | None = None  # the account is un-paired when a request path contains this
    signed_links: bool = False  # order links carry ?expires=…, refused with 403 once past
    link_ttl_s: float = 300.0
    expired_links: int = 0  # this many order answers hand out links that have already expired
    slow_s: float = 0.0
    list_delay_s: float = 0.0  # order lists answer after this long (so overlapping polls can be seen)
    clock: Callable[[], float] = time.monotonic  # seconds, monotonic: token expiry and not-ready delays
    scan_requests: ScanRequests = field(init=False)  # Rx pushed by "Scan Request", the practice's patients

    def __post_init__(self) -> None:
        self.scan_requests = ScanRequests(self.company_id)
        self.practice_polls.clock = self.lab_polls.clock = lambda: self.clock()

    def spend_refresh_token(self, refresh: str) -> bool:
        """OAuth 2.1 rotation: a refresh token works once; True if `refresh` was live (now spent)."""
        if refresh in self.spent_refresh_tokens:
            self.refresh_reuse += 1
        if refresh not in self.refresh_tokens:
            return False
        self.refresh_tokens.discard(refresh)
        self.spent_refresh_tokens.add(refresh)
        return True

    def issue_tokens(self) -> tuple[str, str]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = self.clock() + self.access_ttl_s
        self.refresh_tokens.add(refresh)
        return access, refresh

    def link_query(self) -> str:
        """The query that makes an order's download links expire ("Use the returned links")."""
        if not self.signed_links:
            return ""
        if self.expired_links > 0:
            self.expired_links -= 1
            return "?expires=0"
        return f"?expires={self.clock() + self.link_ttl_s:.3f}"

    def token_valid(self, token: str) -> bool:
        return self.paired and self.access_tokens.get(token, 0.0) > self.clock()

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def add_order(self, **kwargs: Any) -> SimOrder:
        rx_id = kwargs.pop("rx_id", str(uuid.uuid4()))
        order = SimOrder(rx_id=rx_id, order_id=kwargs.pop("order_id", 17544000 + len(self.orders) + 1),
                         company_id=kwargs.pop("company_id", self.company_id), **kwargs)
        self.orders[rx_id] = order
        return order

    def remodel(self, rx_id: str, status: str = "Lab Review") -> SimOrder:
        """After modeling the files change (Scan Status, "Lab Review: consider redownload")."""
        order = self.orders[rx_id]
        order.status = status
        order.revision += 1
        order.listed_for_lab = True  # back in the lab's list with changed files (Align §3.4)
        return order

    def add_capture(self, rx_id: str, created: datetime | None = None) -> SimCapture:
        """A screen capture taken later, on the scanner or on myitero.com; it sends no notification."""
        order = self.orders[rx_id]
        capture = SimCapture(capture_id=str(uuid.uuid4().int)[:9],
                             created=created or datetime.now(UTC).replace(microsecond=0))
        order.captures.append(capture)
        order.screen_captures = True
        return capture

    def fail_next(self, path_contains: str, status: int, count: int = 1) -> None:
        self.failures.append(Failure(path_contains, status, count))

    def take_failure(self, path: str) -> int | None:
        for failure in self.failures:
            if failure.remaining > 0 and failure.path_contains in path:
                failure.remaining -= 1
                return failure.status
        return None

    def by_order_id(self, order_id: str) -> SimOrder | None:
        return next((o for o in self.orders.values() if str(o.order_id) == order_id), None)

    def asset_path(self, order: SimOrder, asset: str) -> Path:
        return self.workdir / f"{order.order_id}-r{order.revision}-{asset}-{order.size}.zip"
