"""Logs through structlog and stdlib logging: a readable console renderer on a terminal, JSON lines
otherwise (or as `log_format` says), with secrets and patient fields redacted and no ANSI codes in JSON.

Context bound with `structlog.contextvars` (the worker binds each event's id and partition key) is added
to every line logged inside it, from any logger. aiokafka's "coordinator not available" of a broker
that is still starting is harmless and logged at INFO, not ERROR.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import IO, Any, Literal

import structlog

from scanbridge import log_repeats

_SENSITIVE_KEYS = re.compile(
    r"token|secret|password|authorization|signature|patient|first_name|last_name|chart|birth", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
_QUERY_SECRETS = re.compile(r"([?&](?:X-Amz-Signature|Signature|sig|token|code|access_token)=)[^&\s]+", re.I)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _QUERY_SECRETS.sub(r"\1[redacted]", _BEARER.sub(r"\1[redacted]", value))
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _SENSITIVE_KEYS.search(key):
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
LogFormat = Literal["auto", "console", "json"]


def _no_ansi(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """uvicorn adds a `color_message` copy of its lines with ANSI colours: JSON gets neither."""
    event_dict.pop("color_message", None)
    for key, value in event_dict.items():
        if isinstance(value, str) and "\x1b" in value:
            event_dict[key] = _ANSI.sub("", value)
    return event_dict


def formatter(console: bool = False, colors: bool = False) -> logging.Formatter:
    """JSON lines (or the console renderer), redacted once, last, so extras and formatted exceptions
    are covered too."""
    pre_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer()
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=colors,
                                                 exception_formatter=structlog.dev.plain_traceback)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact, _no_ansi, renderer],
    )


class HarmlessKafkaErrors(logging.Filter):
    """A fresh broker answers "coordinator not available" until its offsets topic exists: INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.name.startswith("aiokafka"):
            text = record.getMessage()
            if "CoordinatorNotAvailable" in text or "COORDINATOR_NOT_AVAILABLE" in text:
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def configure(level: str = "INFO", fmt: LogFormat = "auto", stream: IO[str] | None = None) -> None:
    """Log to `stream` (stderr): `console` on a terminal under `auto`, else JSON lines."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    console = fmt == "console" or (fmt == "auto" and tty)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(console=console, colors=console and tty))
    handler.addFilter(HarmlessKafkaErrors())
    log_repeats.install(handler)  # a broker outage is a few lines, not thousands
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
