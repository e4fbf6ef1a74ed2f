"""A flood of one repeated library error becomes a few lines with counts (issue 10 item 14)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from scanbridge import log_repeats, logs

CONNECT = "Unable connect to node with id %s: %s"


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """`logs.configure` as the CLI runs it, writing to a buffer; the test's logging restored after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiokafka").level)
    logs.configure("INFO")
    out = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    try:
        yield out
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("aiokafka").setLevel(saved[2])


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_configured_logging_writes_a_flood_of_aiokafka_errors_as_one_line(
    configured: io.StringIO,
) -> None:
    """Before: each of the 20,000 records was a line (a 12 s outage wrote ~72,000)."""
    conn = logging.getLogger("aiokafka.conn")
    for n in range(20_000):
        conn.error(CONNECT, 1, f"[Errno 111] Connect call failed ('127.0.0.1', {n})")
    logging.getLogger("consumers.worker").warning("event %s dead-lettered: %s", "e-1", "reason")
    lines = _lines(configured)
    # All within one interval (10 s) on any sane machine; a very slow one may start a second window.
    assert 2 <= len(lines) <= 4
    assert lines[0]["event"].startswith("Unable connect to node with id 1")  # type: ignore[union-attr]
    assert lines[-1]["event"] == "event e-1 dead-lettered: reason"  # our own lines are not summarized


def _summary(ticks: Ticks, interval_s: float = 10.0) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter())
    handler.addFilter(log_repeats.RepeatSummary(handler, interval_s=interval_s, clock=ticks))
    log = logging.getLogger("aiokafka.test-repeats")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log, out


def test_one_line_per_interval_carries_the_count_of_the_lines_left_out() -> None:
    ticks = Ticks()
    log, out = _summary(ticks)
    for second in range(30):  # a 30 s outage, 100 errors a second
        ticks.now = float(second)
        for _ in range(100):
            log.error(CONNECT, 1, "refused")
    lines = _lines(out)
    assert len(lines) == 3  # at 0 s, 10 s and 20 s
    assert "suppressed" not in lines[0]
    assert [line["suppressed"] for line in lines[1:]] == [999, 999]
    assert "[999 more like this in the previous 10 s]" in str(lines[1]["event"])


def test_a_kind_that_went_quiet_has_its_count_written_by_the_next_line_of_any_kind() -> None:
    ticks = Ticks()
    log, out = _summary(ticks)
    for _ in range(50):
        log.error(CONNECT, 1, "refused")
    ticks.now = 11.0
    log.info("Discovered coordinator %s for group %s", 1, "g")
    lines = _lines(out)
    assert [line.get("suppressed") for line in lines] == [None, 49, None]
    assert str(lines[1]["event"]).startswith(CONNECT)
    assert lines[2]["event"] == "Discovered coordinator 1 for group g"


def test_different_messages_and_levels_are_different_kinds() -> None:
    ticks = Ticks()
    log, out = _summary(ticks)
    for _ in range(10):
        log.error(CONNECT, 1, "refused")
        log.warning(CONNECT, 1, "refused")
        log.error("Unable to update metadata from %s", [1])
    assert len(_lines(out)) == 3


def test_loggers_outside_the_noisy_ones_are_never_held_back() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(log_repeats.RepeatSummary(handler, clock=Ticks()))
    log = logging.getLogger("consumers.test-repeats")
    log.handlers[:] = [handler]
    log.propagate = False
    for n in range(100):
        log.warning("event %s dead-lettered", n)
    assert len(out.getvalue().splitlines()) == 100
