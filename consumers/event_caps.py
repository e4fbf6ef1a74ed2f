"""Cap what a vendor sent before it becomes an `order.updated` (issue 10 item 9): long texts are cut
and an oversized `vendor_record` is replaced by a summary that points to the inbound record, each
listed in `Order.truncated`, so no vendor answer can make an event the bus refuses.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.events import Order
from schemas.settings import EventLimits

SUMMARY_KEY = "_scanbridge"
_KEPT_SCALAR_CHARS = 256  # a top-level value kept in the summary (ids, codes, statuses)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def _cut_texts(value: Any, path: str, limit: int, cut: list[str]) -> Any:
    """`value` with each string longer than `limit` characters cut; the paths of those go to `cut`."""
    if isinstance(value, str) and len(value) > limit:
        cut.append(path)
        return value[:limit]
    if isinstance(value, dict):
        return {key: _cut_texts(item, f"{path}.{key}" if path else key, limit, cut)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_cut_texts(item, f"{path}[{n}]", limit, cut) for n, item in enumerate(value)]
    return value


def summarize_record(record: dict[str, Any], size: int, max_bytes: int,
                     inbound_id: str | None) -> dict[str, Any]:
    """The record's short top-level scalars (ids, codes, statuses), within half the cap, and what was
    left out, with the id of the inbound record the change arrived with (None for a poll)."""
    kept: dict[str, Any] = {}
    budget = max_bytes // 2
    for key, value in record.items():
        short = value is None or isinstance(value, bool | int | float) or (
            isinstance(value, str) and len(value) <= _KEPT_SCALAR_CHARS)
        if short and len(key) <= _KEPT_SCALAR_CHARS:
            budget -= _size({key: value})
            if budget < 0:
                break
            kept[key] = value
    kept[SUMMARY_KEY] = {"truncated": True, "original_bytes": size, "max_bytes": max_bytes,
                         "inbound_id": inbound_id,
                         "omitted": "nested and long values; the vendor API holds the full record"}
    return kept


def cap_order(order: Order, limits: EventLimits, inbound_id: str | None = None) -> Order:
    """`order` within `limits`: every text at most `max_text_chars`, the vendor record at most
    `max_vendor_record_bytes` (else its summary); what was cut is named in `truncated`."""
    cut: list[str] = []
    data = order.model_dump(mode="json", exclude={"vendor_record", "truncated"})
    capped = _cut_texts(data, "", limits.max_text_chars, cut)
    record = order.vendor_record
    size = _size(record)
    if size > limits.max_vendor_record_bytes:
        record = summarize_record(record, size, limits.max_vendor_record_bytes, inbound_id)
        cut.append("vendor_record")
    else:
        record = _cut_texts(record, "vendor_record", limits.max_text_chars, cut)
    if not cut:
        return order
    return Order.model_validate({**capped, "vendor_record": record, "truncated": [*order.truncated, *cut]})
