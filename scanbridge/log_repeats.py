"""Summarize floods of one repeated log line: a broker outage made aiokafka (and the spool forwarder)
log the same connection error thousands of times a second (issue 10 item 14).

Per kind (logger, level, message template) the first record of each interval is written; the others
are counted, not written. The next record of that kind after the interval carries the count of those
left out (`suppressed`, also in its text); a kind that went quiet has its count written as a line of
its own when the next record of any kind reaches the handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Library and bus loggers only: our own per-event lines (an event id each) stay one line per event.
NOISY_LOGGERS = ("aiokafka", "bus")
DEFAULT_INTERVAL_S = 10.0

Kind = tuple[str, int, str]


@dataclass
class _Window:
    started: float
    suppressed: int = 0


class RepeatSummary(logging.Filter):
    """A filter for `handler`: at most one line per kind and interval, then a count of the rest."""

    def __init__(self, handler: logging.Handler, *, loggers: tuple[str, ...] = NOISY_LOGGERS,
                 interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._handler = handler
        self._loggers = loggers
        self._interval_s = interval_s
        self._clock = clock
        self._windows: dict[Kind, _Window] = {}
        self._lock = threading.Lock()

    def _watched(self, name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in self._loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self._clock()
            if not self._watched(record.name):
                self._flush_quiet(now, None)
                return True
            kind = (record.name, record.levelno, str(record.msg))
            self._flush_quiet(now, kind)
            window = self._windows.get(kind)
            if window is not None and now - window.started < self._interval_s:
                window.suppressed += 1
                return False
            if window is not None and window.suppressed:
                _mark(record, window.suppressed, self._interval_s)
            self._windows[kind] = _Window(now)
            return True

    def _flush_quiet(self, now: float, current: Kind | None) -> None:
        """Forget each kind (but `current`) whose interval is over, writing the count of those left out."""
        expired = [kind for kind, window in self._windows.items()
                   if kind != current and now - window.started >= self._interval_s]
        for kind in expired:
            window = self._windows.pop(kind)
            if window.suppressed:
                name, level, msg = kind
                summary = logging.LogRecord(name, level, __file__, 0, "%s", (msg,), None)
                _mark(summary, window.suppressed, self._interval_s)
                self._handler.acquire()
                try:
                    self._handler.emit(summary)
                finally:
                    self._handler.release()


def _mark(record: logging.LogRecord, suppressed: int, interval_s: float) -> None:
    record.suppressed = suppressed  # an extra: a key of its own in the JSON line
    record.msg = f"{record.msg} [{suppressed} more like this in the previous {interval_s:.0f} s]"


def install(handler: logging.Handler, interval_s: float = DEFAULT_INTERVAL_S) -> RepeatSummary:
    summary = RepeatSummary(handler, interval_s=interval_s)
    handler.addFilter(summary)
    return summary
