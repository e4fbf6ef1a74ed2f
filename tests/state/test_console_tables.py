"""The console's tables of the state store, on both backends: the audit log and the orders index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.base import AuditRecord, ConnectionKey, IndexedEvent, OrderKey, OrderQuery
from state.store import SqlStateStore

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
KEY = OrderKey("itero", "clinic-1", "rx-1")


def _event(n: int, key: OrderKey = KEY, **fields: object) -> IndexedEvent:
    values: dict[str, object] = {"key": key, "event_id": f"e{n}", "type": "scan.notified",
                                 "at": T0 + timedelta(minutes=n)}
    values.update(fields)
    return IndexedEvent(**values)  # type: ignore[arg-type]


async def test_audit_records_come_back_newest_first_with_time_and_sequence(
        state_store: SqlStateStore) -> None:
    first = await state_store.audit.record(AuditRecord("ann", "sign_in", "-", {"role": "admin"}))
    second = await state_store.audit.record(AuditRecord("bob", "deadletter.retry", "dl-1"))
    assert second.seq > first.seq and first.at is not None
    assert [(r.actor, r.action, r.target) for r in await state_store.audit.recent()] == [
        ("bob", "deadletter.retry", "dl-1"), ("ann", "sign_in", "-")]
    assert [r.detail for r in await state_store.audit.recent(actor="ann")] == [{"role": "admin"}]


async def test_an_event_indexed_twice_counts_once_and_ids_learned_later_fill_in(
        state_store: SqlStateStore) -> None:
    orders = state_store.orders
    assert await orders.record([_event(1), _event(1)]) == 1
    assert await orders.record([_event(2, type="order.updated", rx_id="rx-1", order_code="A-77",
                                       stage="scanned", version="v1", patient={"last_name": "Doe"})]) == 1
    assert await orders.record([_event(1)]) == 0
    found = await orders.get(KEY)
    assert found is not None
    assert (found.events, found.order_code, found.stage, found.version) == (2, "A-77", "scanned", "v1")
    assert (found.first_at, found.last_at) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))
    assert await orders.patient(KEY) == {"last_name": "Doe"}
    assert [item.event_id for item in await orders.timeline(KEY)] == ["e1", "e2"]


async def test_a_late_older_event_does_not_turn_the_stage_back(state_store: SqlStateStore) -> None:
    orders = state_store.orders
    await orders.record([_event(5, type="order.updated", stage="modeled", version="v2")])
    await orders.record([_event(3, type="order.updated", stage="scanned", version="v1")])
    found = await orders.get(KEY)
    assert found is not None and (found.stage, found.version) == ("modeled", "v2")
    assert found.first_at == T0 + timedelta(minutes=3)


async def test_search_by_any_id_vendor_account_and_date(state_store: SqlStateStore) -> None:
    orders = state_store.orders
    other = OrderKey("meditlink", "lab-9", "M-1")
    await orders.record([_event(1, type="order.updated", rx_id="rx-guid", case_id="case-7", order_code="A-1"),
                         _event(2, key=other, artifact=True, type="artifact.stored",
                                summary={"file_name": "upper.stl"}),
                         _event(60 * 24 * 3, key=OrderKey("itero", "clinic-1", "rx-2"))])
    assert [o.key for o in await orders.search(OrderQuery(ident="case-7"))] == [KEY]
    assert [o.key for o in await orders.search(OrderQuery(ident="A-1"))] == [KEY]
    assert [o.key for o in await orders.search(OrderQuery(ident="rx-guid"))] == [KEY]
    assert [o.key for o in await orders.search(OrderQuery(vendor="meditlink"))] == [other]
    assert [o.key.order for o in await orders.search(OrderQuery(account="clinic-1"))] == ["rx-2", "rx-1"]
    first_day = OrderQuery(since=T0, until=T0 + timedelta(days=1))
    assert [o.key for o in await orders.search(first_day)] == [other, KEY]
    artifact_order = await orders.get(other)
    assert artifact_order is not None and artifact_order.artifacts == 1
    assert (await orders.timeline(other))[0].summary == {"file_name": "upper.stl"}


async def test_patient_fields_and_summaries_are_sealed_at_rest(state_store: SqlStateStore) -> None:
    await state_store.orders.record([_event(1, type="order.updated", patient={"last_name": "Zebedee"},
                                            summary={"procedure": "Crown"})])
    async with state_store.db.transaction(write=False) as tx:
        rows = await tx.fetch("SELECT sealed FROM orders") + await tx.fetch("SELECT sealed FROM order_events")
    assert rows and not any("Zebedee" in r[0] or "Crown" in r[0] for r in rows)


async def test_all_entries_of_a_connection_come_back_by_name(state_store: SqlStateStore) -> None:
    key, other = ConnectionKey("scanbridge", "command-log"), ConnectionKey("itero", "c")
    await state_store.entries.put(key, "a", {"n": 1})
    await state_store.entries.put(key, "b", {"n": 2})
    await state_store.entries.put(key, "b", {"n": 3})
    await state_store.entries.put(other, "a", {"n": 9})
    found = await state_store.entries.all(key)
    assert {name: (e.value, e.version) for name, e in found.items()} == {
        "a": ({"n": 1}, 1), "b": ({"n": 3}, 2)}
