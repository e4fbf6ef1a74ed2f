"""Reading vendor JSON tolerantly: field names in any case, numbers as strings, dates in several forms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateparser


def _key(name: object) -> str:
    return str(name).lower().replace("_", "").replace("-", "")


def ci_get(record: dict[str, Any] | None, *names: str) -> Any:
    """The value of the first of `names` present in `record`, matching keys in any letter case and with
    `_` and `-` ignored (`orderNumber`, `ORDERNUMBER`, `order_number`)."""
    if not record:
        return None
    lowered = {_key(k): v for k, v in record.items()}
    for name in names:
        value = lowered.get(_key(name))
        if value is not None:
            return value
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def as_int(value: Any) -> int | None:
    text = "" if value is None else str(value).strip()
    try:
        return int(text) if text else None
    except ValueError:
        return None


def as_utc(value: Any) -> datetime | None:
    """Parse a vendor date; one without a zone is UTC (iTero: "Always in GMT + 0")."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    try:
        parsed = dateparser.isoparse(str(value))
    except ValueError:
        try:
            parsed = dateparser.parse(str(value))
        except (ValueError, OverflowError):
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def unwrap_data(body: Any) -> Any:
    """iTero answers `{"Data": …, "Status": 1}`; tolerate a bare object too."""
    if isinstance(body, dict):
        data = ci_get(body, "Data")
        if data is not None:
            return data
    return body
