"""JSON logs through structlog and stdlib logging, with secrets and patient fields redacted."""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import IO, Any

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


def formatter() -> logging.Formatter:
    """JSON lines, redacted once, last, so extras and formatted exceptions are covered too."""
    pre_chain: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact,
                    structlog.processors.JSONRenderer()],
    )


def configure(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """JSON lines to `stream` (default stderr) from every logger, at `level`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter())
    log_repeats.install(handler)  # a broker outage is a few lines, not thousands
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
