"""HTTP subscriptions in the state store, on both backends: sealed settings, failing/disabled state,
one delivery per event, dead letters per subscription."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.base import DeadDelivery, SigningSecret, Subscription
from state.store import SqlStateStore
from tests.state.conftest import StoreFactory

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _sub(sub_id: str = "lab-x") -> Subscription:
    return Subscription(id=sub_id, url="https://lab-x.example/hooks?token=t0p", secrets=(
        SigningSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        SigningSecret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", until=AT)),
        event_types=("order.completed", "artifact.stored"), vendors=("itero",), accounts=("4242",))


async def test_a_subscription_round_trips_and_its_id_is_taken_once(state_store: SqlStateStore) -> None:
    before = await state_store.subscriptions.revision()
    assert await state_store.subscriptions.add(_sub())
    assert not await state_store.subscriptions.add(_sub())
    got = await state_store.subscriptions.get("lab-x")
    assert got is not None and got.created_at is not None
    assert (got.url, got.secrets, got.event_types, got.vendors, got.accounts, got.status) == (
        _sub().url, _sub().secrets, _sub().event_types, ("itero",), ("4242",), "active")
    assert [s.id for s in await state_store.subscriptions.list()] == ["lab-x"]
    assert await state_store.subscriptions.revision() > before


async def test_url_and_secrets_are_sealed_at_rest(state_store: SqlStateStore) -> None:
    await state_store.subscriptions.add(_sub())
    async with state_store.db.transaction(write=False) as tx:
        rows = await tx.fetch("SELECT * FROM subscriptions")
    text = repr(rows)
    assert "t0p" not in text and "whsec_" not in text and "lab-x.example" not in text


async def test_failing_since_is_the_first_failure_and_success_clears_it(state_store: SqlStateStore) -> None:
    subs = state_store.subscriptions
    await subs.add(_sub())
    assert await subs.record_failure("lab-x", "503", AT) == AT
    assert await subs.record_failure("lab-x", "timeout", AT + timedelta(minutes=5)) == AT
    got = await subs.get("lab-x")
    assert got is not None and got.failing_since == AT and got.last_error == "timeout"
    await subs.record_success("lab-x")
    assert await subs.record_failure("lab-x", "503", AT + timedelta(hours=1)) == AT + timedelta(hours=1)


async def test_disable_and_enable_change_the_status_once(state_store: SqlStateStore) -> None:
    subs = state_store.subscriptions
    await subs.add(_sub())
    await subs.record_failure("lab-x", "503", AT)
    revision = await subs.revision()
    assert await subs.disable("lab-x", AT) and not await subs.disable("lab-x", AT)
    got = await subs.get("lab-x")
    assert got is not None and got.status == "disabled" and got.disabled_at == AT
    assert await subs.revision() > revision
    assert await subs.enable("lab-x") and not await subs.enable("lab-x")
    got = await subs.get("lab-x")
    assert got is not None and (got.status, got.failing_since, got.disabled_at) == ("active", None, None)


async def test_deliveries_and_dead_letters_are_kept_per_subscription(state_store: SqlStateStore) -> None:
    subs = state_store.subscriptions
    await subs.add(_sub("a"))
    await subs.add(_sub("b"))
    await subs.mark_delivered("a", "e1")
    await subs.mark_delivered("a", "e1")
    assert await subs.delivered("a", "e1") and not await subs.delivered("b", "e1")
    for n in (2, 1):
        await subs.add_dead_letter(DeadDelivery("a", f"e{n}", "t.events", {"id": f"e{n}"}, "422", 1))
    letters = await subs.dead_letters("a")
    assert sorted(d.event_id for d in letters) == ["e1", "e2"] and letters[0].reason == "422"
    assert await subs.dead_letters("b") == []
    assert await subs.remove_dead_letter("a", "e2") and not await subs.remove_dead_letter("a", "e2")
    assert await subs.prune_delivered(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert await subs.remove("a") and not await subs.remove("a")
    assert await subs.dead_letters("a") == [] and await subs.get("a") is None


async def test_new_secrets_replace_the_old_ones_and_reseal_rewrites_them(open_store: StoreFactory,
                                                                          state_key: str) -> None:
    from cryptography.fernet import Fernet

    store = open_store()
    await store.start()
    await store.subscriptions.add(_sub())
    fresh = (SigningSecret("whsec_bmV3LXNlY3JldC1mb3ItdGVzdGluZy0xMjM0"),)
    assert await store.subscriptions.set_secrets("lab-x", fresh)
    rotated = open_store([Fernet.generate_key().decode(), state_key])
    await rotated.start()
    assert await rotated.reseal() >= 1
    got = await rotated.subscriptions.get("lab-x")
    assert got is not None and got.secrets == fresh and got.url == _sub().url
