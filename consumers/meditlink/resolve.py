"""Which order a Medit Link case belongs to, and which case a file belongs to, so that a callback naming
a case, or only a file, is handled under its order's number and partition key like the poll of it.

The doc has no direct way: Get Case (meditlink-openapi.txt §3.3.2) names no order, Get File (§3.4.1)
answers a download link and no case, and the upload callback's body is not documented (§3.4.2). So:

- case → order: the pollers' state (every `orders/search` record carries `case.uuid`, §3.5.1), else
  `orders/search` from the case's `dateCreated` on — an order is created after its case, and the search
  filters on the order's `dateUpdated`, which is never earlier — looking for that `case.uuid`;
- file → case: `cases/search` over `case_horizon_days` (§3.3.1), the most recently updated first, then
  `GET /v1/cases/{uuid}` (§3.3.2, which lists the files) until one lists the file, at most
  `MAX_CASES_OPENED` of them.
A case that belongs to no order (yet) stays under its own uuid, as the poller announces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from consumers.clock import Clock
from consumers.errors import PermanentError
from consumers.meditlink import search
from consumers.meditlink.client import MeditClient
from consumers.meditlink.normalize import case_files
from consumers.meditlink.poller import known_order
from consumers.records import as_text, as_utc, ci_get
from consumers.retry import retrying
from schemas.settings import RetrySettings
from state.base import StateStore

MAX_CASES_OPENED = 50  # Get Case calls spent looking for one file's case
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Resolver:
    client: MeditClient
    state: StateStore
    retry: RetrySettings
    clock: Clock

    async def case(self, case_uuid: str) -> dict[str, Any]:
        return await retrying(lambda: self.client.get_case(case_uuid), policy=self.retry, clock=self.clock,
                              what="meditlink case")

    async def order_of_case(self, case_uuid: str, case: dict[str, Any] | None = None
                            ) -> tuple[str | None, dict[str, Any] | None]:
        """(order number or None, the case record if it had to be read)."""
        number = await known_order(self.state, self.client.connection, case_uuid)
        if number:
            return number, case
        case = case if case is not None else await self.case(case_uuid)
        created = as_utc(ci_get(case, "dateCreated"))
        now_ms = int(time.time() * 1000)
        horizon = now_ms - int(self.client.connection.case_horizon_days * DAY_MS)
        start = max(0, int(created.timestamp() * 1000) - DAY_MS) if created else horizon
        async for record in search.records(self.client, "orders", start, now_ms + search.FUTURE_SLACK_MS,
                                           retry=self.retry, clock=self.clock):
            inner = ci_get(record, "case")
            if isinstance(inner, dict) and as_text(ci_get(inner, "uuid")) == case_uuid:
                number = as_text(ci_get(record, "orderNumber"))
                if number:
                    return number, case
        return None, case

    async def case_of_file(self, file_uuid: str) -> dict[str, Any]:
        """The case listing `file_uuid`; PermanentError when none of the recent cases does."""
        now_ms = int(time.time() * 1000)
        start = max(0, now_ms - int(self.client.connection.case_horizon_days * DAY_MS))
        found = [r async for r in search.records(self.client, "cases", start, now_ms + search.FUTURE_SLACK_MS,
                                                 retry=self.retry, clock=self.clock)]

        def updated(record: dict[str, Any]) -> float:
            when = as_utc(ci_get(record, "dateUpdated")) or as_utc(ci_get(record, "dateCreated"))
            return when.timestamp() if when else 0.0

        newest = sorted(found, key=updated, reverse=True)
        candidates = list(dict.fromkeys(u for u in (as_text(ci_get(r, "uuid")) for r in newest) if u))
        for case_uuid in candidates[:MAX_CASES_OPENED]:
            case = await self.case(case_uuid)
            if any(as_text(ci_get(f, "uuid")) == file_uuid for f in case_files(case)):
                return case
        days = self.client.connection.case_horizon_days
        raise PermanentError(f"file {file_uuid} is in none of the {min(len(candidates), MAX_CASES_OPENED)} "
                             f"most recently updated cases of the last {days:g} days (case_horizon_days)")
