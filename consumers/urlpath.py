"""Vendor ids enter URLs as one escaped path segment each (DESIGN.md §5.6).

An id comes from a webhook body, a poll answer or an order record, so it is input: `../../x` or
`1?admin=true#` must never change the path or the query a vendor receives. `segment` percent-escapes
every reserved character (`quote(value, safe="")`: `/`, `?`, `#`, `%`, …) and refuses what escaping
cannot make harmless: an empty id, `.` and `..` (dot segments, which URL normalization removes) and
text that is not encodable as UTF-8 (lone surrogates) — all `InvalidId`, a permanent failure.
"""

from __future__ import annotations

from urllib.parse import quote

from consumers.errors import InvalidId

MAX_ID_CHARS = 512


def segment(value: str, what: str = "id") -> str:
    """`value` as one escaped URL path segment."""
    if value in ("", ".", "..") or len(value) > MAX_ID_CHARS:
        raise InvalidId(f"{what} cannot name a vendor resource (empty, a dot segment or too long)")
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise InvalidId(f"{what} is not valid text (not encodable as UTF-8)") from None
