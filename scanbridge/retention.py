"""Retention (issue 13 item 5, DESIGN.md §8): what is older than `[retention]` goes — artifacts (folder or
bucket), announcement markers, the console's orders index and audit log (in the state store), and the
embedded bus log. `plan` lists it (counts and
bytes per kind) without touching anything; `apply` deletes it, reporting progress item by item."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bus.local import LocalBus
from consumers.artifacts.base import ArtifactStore
from schemas.settings import RetentionSettings
from state.base import StateStore

ARTIFACTS, MARKERS, BUS_LOG = "artifacts", "markers", "bus log"
ORDERS, AUDIT = "orders index", "audit log"  # the console's (issue 17)


@dataclass
class Doomed:
    """One thing to delete: `count` items of `size` bytes, gone when `remove()` returns."""

    kind: str
    count: int
    size: int
    remove: Callable[[], Awaitable[None]]


@dataclass
class Plan:
    items: list[Doomed] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[int, int]]:
        """(count, bytes) per kind, every kind that has a retention, zero when nothing is old enough."""
        out: dict[str, tuple[int, int]] = {}
        for item in self.items:
            count, size = out.get(item.kind, (0, 0))
            out[item.kind] = (count + item.count, size + item.size)
        return out

    @property
    def count(self) -> int:
        return sum(item.count for item in self.items)


def cutoff(now: datetime, days: float | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


async def expired_artifacts(store: ArtifactStore, before: datetime) -> list[Doomed]:
    def remover(key: str) -> Callable[[], Awaitable[None]]:
        return lambda: store.delete(key)

    return [Doomed(ARTIFACTS, 1, aged.size, remover(aged.key)) for aged in await store.older_than(before)]


async def expired_markers(state: StateStore, before: datetime) -> list[Doomed]:
    """Announcement markers written before `before` (one item: the state store deletes them in one go). A
    redelivered order whose markers went is announced again."""
    count, size = await state.markers.aged(before)

    async def remove() -> None:
        await state.markers.prune(before)

    return [Doomed(MARKERS, count, size, remove)] if count else []


async def expired_orders(state: StateStore, before: datetime) -> list[Doomed]:
    """Orders of the console's index whose last event is older than `before`, with their timelines (one
    item: the state store deletes them in one go)."""
    count, size = await state.orders.aged(before)

    async def remove() -> None:
        await state.orders.prune(before)

    return [Doomed(ORDERS, count, size, remove)] if count else []


async def expired_audit(state: StateStore, before: datetime) -> list[Doomed]:
    """Audit records of the console written before `before`."""
    count, size = await state.audit.aged(before)

    async def remove() -> None:
        await state.audit.prune(before)

    return [Doomed(AUDIT, count, size, remove)] if count else []


async def expired_bus_records(bus: LocalBus, before: datetime) -> list[Doomed]:
    count, size = await bus.older_than(before)

    async def remove() -> None:
        async for _ in bus.prune(before):
            pass

    return [Doomed(BUS_LOG, count, size, remove)] if count else []


async def apply(plan: Plan, advance: Callable[[int], None]) -> None:
    for item in plan.items:
        await item.remove()
        advance(item.count)


async def build_plan(retention: RetentionSettings, state: StateStore, store: ArtifactStore,
                     bus: LocalBus | None, now: datetime) -> Plan:
    """Everything older than its retention; a kind without a retention (None) is kept whole. `bus` is the
    embedded log (None on Kafka, whose topics have their own retention.ms)."""
    plan = Plan()
    if (before := cutoff(now, retention.artifacts_days)) is not None:
        plan.items += await expired_artifacts(store, before)
    if (before := cutoff(now, retention.markers_days)) is not None:
        plan.items += await expired_markers(state, before)
    if (before := cutoff(now, retention.orders_index_days)) is not None:
        plan.items += await expired_orders(state, before)
    if (before := cutoff(now, retention.audit_days)) is not None:
        plan.items += await expired_audit(state, before)
    if bus is not None and (before := cutoff(now, retention.bus_log_days)) is not None:
        plan.items += await expired_bus_records(bus, before)
    return plan
