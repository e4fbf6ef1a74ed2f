"""Order claims (state/tables/claims.py), both backends: one holder, taken once lapsed, gone on release."""

from __future__ import annotations

import asyncio

import pytest

from state.errors import StaleLease
from state.store import SqlStateStore
from tests.state.test_store import _raw

ORDER = "itero:clinic-1:rx-1"


async def test_a_claim_has_one_holder_and_its_row_goes_on_release(state_store: SqlStateStore) -> None:
    claims = state_store.claims
    a = await claims.acquire(ORDER, "worker-a", ttl_s=30)
    assert a is not None
    assert await claims.acquire(ORDER, "worker-b", ttl_s=30) is None
    assert await claims.acquire(ORDER, "worker-a", ttl_s=30) is None  # held, even by its owner
    assert await claims.acquire("itero:clinic-1:rx-2", "worker-b", ttl_s=30) is not None  # another order
    renewed = await claims.renew(a, ttl_s=60)
    assert renewed.token == a.token and renewed.expires_at >= a.expires_at
    holder = await claims.holder(ORDER)
    assert holder is not None and (holder.owner, holder.token) == ("worker-a", a.token)

    assert await claims.release(a)
    assert await _raw(state_store, "SELECT name FROM claims WHERE name = ?", ORDER) == []
    b = await claims.acquire(ORDER, "worker-b", ttl_s=30)
    assert b is not None and b.token != a.token
    assert not await claims.release(a)  # not a's any more: b's claim stays
    assert await claims.holder(ORDER) == b


async def test_a_claim_whose_holder_died_is_taken_over_once_it_lapses(state_store: SqlStateStore) -> None:
    claims = state_store.claims
    dead = await claims.acquire(ORDER, "worker-a", ttl_s=0.3)  # its holder never renews nor releases
    assert dead is not None
    assert await claims.acquire(ORDER, "worker-b", ttl_s=30) is None
    taken = None
    for _ in range(200):  # until it lapses (no timed assertion: only that it is taken, and by whom)
        if (taken := await claims.acquire(ORDER, "worker-b", ttl_s=30)) is not None:
            break
        await asyncio.sleep(0.05)
    assert taken is not None and taken.token != dead.token
    with pytest.raises(StaleLease):
        await claims.renew(dead, ttl_s=30)
    assert not await claims.release(dead)
    holder = await claims.holder(ORDER)
    assert holder is not None and holder.owner == "worker-b"


async def test_a_lapsed_claim_nobody_took_still_renews(state_store: SqlStateStore) -> None:
    a = await state_store.claims.acquire(ORDER, "worker-a", ttl_s=0)
    assert a is not None and await state_store.claims.holder(ORDER) is None
    renewed = await state_store.claims.renew(a, ttl_s=30)
    assert renewed.token == a.token
    assert await state_store.claims.acquire(ORDER, "worker-b", ttl_s=30) is None
