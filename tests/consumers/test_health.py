"""Connection health: last success, last error, failing since; kept across processes, written sparingly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consumers import health
from consumers.errors import NotFound, ServerError, Unauthorized
from consumers.retry import Attempts, RetriesExhausted

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_failing_since_is_the_first_error_after_the_last_success(tmp_path: Path) -> None:
    assert health.read(tmp_path, "itero", "c1").status == "unknown"
    health.record_ok(tmp_path, "itero", "c1", _at(0))
    health.record_error(tmp_path, "itero", "c1", ServerError("GET orders/practice: 503"), _at(1))
    health.record_error(tmp_path, "itero", "c1", ServerError("GET orders/practice: 502"), _at(2))
    failing = health.read(tmp_path, "itero", "c1")
    assert failing.status == "failing"
    assert (failing.last_ok_at, failing.failing_since, failing.last_error_at) == (_at(0), _at(1), _at(2))
    assert failing.last_error == "ServerError: GET orders/practice: 502"
    health.record_ok(tmp_path, "itero", "c1", _at(3))
    recovered = health.read(tmp_path, "itero", "c1")
    assert (recovered.status, recovered.last_ok_at, recovered.failing_since) == ("ok", _at(3), None)
    assert recovered.last_error_at == _at(2)  # the last error stays visible after recovery


def test_connections_and_vendors_are_kept_apart(tmp_path: Path) -> None:
    health.record_error(tmp_path, "meditlink", "lab-1", "not connected", _at(0))
    health.record_ok(tmp_path, "3shape", "lab-1", _at(0))
    assert health.read(tmp_path, "meditlink", "lab-1").status == "failing"
    assert health.read(tmp_path, "3shape", "lab-1").status == "ok"
    assert health.read(tmp_path, "meditlink", "lab-2").status == "unknown"


def test_a_repeated_success_is_not_rewritten_at_once_but_a_change_is(tmp_path: Path) -> None:
    health.record_ok(tmp_path, "itero", "busy", _at(0))
    health.record_ok(tmp_path, "itero", "busy", _at(1))  # the same state within REWRITE_S: memory only
    assert health.read(tmp_path, "itero", "busy").last_ok_at == _at(0)
    health.record_error(tmp_path, "itero", "busy", "down", _at(2))  # a change: written at once
    assert health.read(tmp_path, "itero", "busy").failing_since == _at(2)


@pytest.mark.parametrize(("error", "counts"), [
    (Unauthorized("401"), True),
    (ServerError("503"), True),
    (RetriesExhausted("itero order", ServerError("503"), Attempts()), True),
    (NotFound("GET orders/x: 404"), False),  # the vendor answered: this order is the problem
    (ValueError("bad event"), False),
])
def test_only_failures_of_the_connection_count(error: BaseException, counts: bool) -> None:
    assert health.is_connection_failure(error) is counts
