"""Logs are JSON and never carry tokens, signed URLs or patient fields."""

from __future__ import annotations

import io
import json
import logging

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
