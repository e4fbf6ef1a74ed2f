"""What a vendor would see of our polling, per account: polls that overlap (two instances polling one
account at once) and polls that come sooner than the vendor allows (Align lab guideline §3.7.1: "no more
often than every 120 seconds"; a second instance polling the same account shows up here too).

A poll is the first page of an order list; `watch(account)` wraps the handling of every list request,
so requests of two pollers in flight at the same time count as concurrent.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class PollWatch:
    min_interval_s: float = 0.0  # polls of one account closer than this count as too frequent (0: off)
    clock: Callable[[], float] = time.monotonic
    polls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # first-page starts
    in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    concurrent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    too_frequent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shortest_gap_s: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def watch(self, account: str, *, first_page: bool) -> Iterator[None]:
        """Around one list request of `account`; `first_page` marks the start of a poll."""
        now = self.clock()
        if self.in_flight[account]:
            self.concurrent[account] += 1
        if first_page:
            starts = self.polls[account]
            if starts:
                gap = now - starts[-1]
                self.shortest_gap_s[account] = min(gap, self.shortest_gap_s.get(account, gap))
                if gap < self.min_interval_s:
                    self.too_frequent[account] += 1
            starts.append(now)
        self.in_flight[account] += 1
        try:
            yield
        finally:
            self.in_flight[account] -= 1

    def summary(self) -> dict[str, dict[str, float]]:
        """Per account: polls, concurrent, too_frequent, shortest_gap_s (JSON-friendly)."""
        return {account: {"polls": len(starts), "concurrent": self.concurrent.get(account, 0),
                          "too_frequent": self.too_frequent.get(account, 0),
                          "shortest_gap_s": round(self.shortest_gap_s.get(account, -1.0), 3)}
                for account, starts in sorted(self.polls.items())}
