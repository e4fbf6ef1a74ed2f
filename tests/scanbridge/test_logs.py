"""Logs: JSON (or a console renderer on a terminal), never tokens, signed URLs, patient fields or ANSI
codes in JSON; bound context on every line; harmless library errors not reported as errors."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from scanbridge import logs


def test_secrets_and_patient_fields_are_redacted() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter())
    log = logging.getLogger("scanbridge.test.redaction")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("calling with Bearer abc.def-123 and https://s3.example/x?X-Amz-Signature=deadbeef&a=1",
                 extra={"patient_last_name": "Doe", "refresh_token": "r-123", "order_id": "42"})
    finally:
        log.removeHandler(handler)
    line = out.getvalue().strip()
    record = json.loads(line)
    assert "abc.def-123" not in line and "deadbeef" not in line and "Doe" not in line and "r-123" not in line
    assert record["order_id"] == "42" and record["patient_last_name"] == "[redacted]"
    assert "Bearer [redacted]" in record["event"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiokafka").level)
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("aiokafka").setLevel(saved[2])


def test_json_lines_carry_no_ansi_codes_even_when_a_library_adds_them(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure("INFO", "json", out)
    logging.getLogger("scanbridge.test.like_uvicorn").info(  # uvicorn.error may be set to WARNING by now
        "Uvicorn running on %s", "http://127.0.0.1:8700",
        extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"})
    logging.getLogger("scanbridge.test").warning("a \x1b[31mred\x1b[0m word")
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    first, second = (json.loads(line) for line in lines)
    assert "color_message" not in first and first["event"] == "Uvicorn running on http://127.0.0.1:8700"
    assert second["event"] == "a red word"


def test_auto_renders_for_people_on_a_terminal_and_json_elsewhere(restore_logging: None) -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    logs.configure("INFO", "auto", terminal)
    logging.getLogger("scanbridge.test").info("stored", extra={"kind": "scan_3d"})
    logs.configure("INFO", "auto", pipe)
    logging.getLogger("scanbridge.test").info("stored", extra={"kind": "scan_3d"})
    console = terminal.getvalue()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", console)
    assert "\x1b[" in console, "colours on a terminal"
    assert "[info" in plain and "kind=scan_3d" in plain and not plain.startswith("{")
    assert json.loads(pipe.getvalue())["kind"] == "scan_3d"


def test_context_bound_in_a_task_is_on_every_line_logged_inside_it_and_nowhere_else(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    logs.configure("INFO", "json", out)
    log = logging.getLogger("consumers.test")

    async def work() -> None:
        structlog.contextvars.bind_contextvars(event_id="e-1", partition_key="itero:1:rx")
        log.info("inside")

    async def main() -> None:
        await asyncio.create_task(work())
        log.info("outside")

    asyncio.run(main())
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert (inside["event_id"], inside["partition_key"]) == ("e-1", "itero:1:rx")
    assert "event_id" not in outside


def test_a_fresh_brokers_coordinator_not_available_is_info_not_error(restore_logging: None) -> None:
    out = io.StringIO()
    logs.configure("INFO", "json", out)
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "Group Coordinator Request failed: %s", "[Error 15] CoordinatorNotAvailableError")
    logging.getLogger("aiokafka.consumer.group_coordinator").error("Heartbeat failed: %s", "something else")
    harmless, real = (json.loads(line) for line in out.getvalue().splitlines())
    assert (harmless["level"], real["level"]) == ("info", "error")
