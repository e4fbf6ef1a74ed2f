"""Connection health: last success, last error, failing since; kept in the state store for every process,
written sparingly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers.errors import NotFound, ServerError, Unauthorized
from consumers.health import HealthBook, is_connection_failure, label
from consumers.retry import Attempts, RetriesExhausted
from state.base import ConnectionKey
from state.store import SqlStateStore
from tests.shared import state_store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
C1 = ConnectionKey("itero", "c1")


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStateStore]:
    async with state_store(tmp_path) as opened:
        yield opened


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_failing_since_is_the_first_error_after_the_last_success(store: SqlStateStore) -> None:
    book = HealthBook(store.connections)
    assert label(await book.read(C1)) == "unknown"
    await book.ok(C1, _at(0))
    await book.error(C1, ServerError("GET orders/practice: 503"), _at(1))
    await book.error(C1, ServerError("GET orders/practice: 502"), _at(2))
    failing = await HealthBook(store.connections).read(C1)  # another process reads the same
    assert label(failing) == "failing"
    assert (failing.last_success_at, failing.failing_since, failing.last_error_at) == (_at(0), _at(1), _at(2))
    assert failing.last_error == "ServerError: GET orders/practice: 502"
    await book.ok(C1, _at(3))
    recovered = await book.read(C1)
    assert (label(recovered), recovered.last_success_at, recovered.failing_since) == ("ok", _at(3), None)
    assert recovered.last_error_at == _at(2)  # the last error stays visible after recovery


async def test_connections_and_vendors_are_kept_apart(store: SqlStateStore) -> None:
    book = HealthBook(store.connections)
    await book.error(ConnectionKey("meditlink", "lab-1"), "not connected", _at(0))
    await book.ok(ConnectionKey("3shape", "lab-1"), _at(0))
    assert label(await book.read(ConnectionKey("meditlink", "lab-1"))) == "failing"
    assert label(await book.read(ConnectionKey("3shape", "lab-1"))) == "ok"
    assert label(await book.read(ConnectionKey("meditlink", "lab-2"))) == "unknown"


async def test_a_repeated_success_is_not_rewritten_at_once_but_a_change_is(store: SqlStateStore) -> None:
    ticks = Ticks()
    book = HealthBook(store.connections, rewrite_s=30.0, clock=ticks)
    await book.ok(C1, _at(0))
    ticks.now = 10.0
    await book.ok(C1, _at(1))  # the same state within rewrite_s: not written
    assert (await book.read(C1)).last_success_at == _at(0)
    await book.error(C1, "down", _at(2))  # a change: written at once
    assert (await book.read(C1)).failing_since == _at(2)
    await book.ok(C1, _at(3))
    ticks.now = 45.0
    await book.ok(C1, _at(4))  # the same state, but rewrite_s later: written
    assert (await book.read(C1)).last_success_at == _at(4)


async def test_a_failing_call_never_hides_an_unpaired_connection(store: SqlStateStore) -> None:
    await store.connections.record_failure(C1, "unpaired", "invalid_grant", _at(0))
    await HealthBook(store.connections).error(C1, ServerError("503"), _at(1))
    health = await store.connections.health(C1)
    assert (health.status, health.last_error) == ("unpaired", "ServerError: 503")


@pytest.mark.parametrize(("error", "counts"), [
    (Unauthorized("401"), True),
    (ServerError("503"), True),
    (RetriesExhausted("itero order", ServerError("503"), Attempts()), True),
    (NotFound("GET orders/x: 404"), False),  # the vendor answered: this order is the problem
    (ValueError("bad event"), False),
])
def test_only_failures_of_the_connection_count(error: BaseException, counts: bool) -> None:
    assert is_connection_failure(error) is counts
