"""Read a request body within a size bound and parse it as a JSON object (DESIGN.md §5.2).

Whatever the bytes, the answer is a 4xx, never a 5xx: the body must be UTF-8 (a leading BOM is
tolerated), JSON whose strings are valid Unicode (no lone surrogates, which no UTF-8 consumer can
carry), no NaN or Infinity, integers within Python's 4,300-digit conversion limit and at most
`MAX_DEPTH` levels of nesting (deeper input would exhaust the parser's recursion).

The same rules serve Starlette routes (`Request`) and the plain ASGI hook routes (receiver/hookasgi.py).
A flat object of strings, integers, booleans and nulls — every webhook body seen so far — is parsed
with orjson (issue 16); anything else, and anything orjson refuses, takes the standard parser, whose
answer (value or error) is the rule.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from receiver.errors import ApiError


def check_declared(declared: str | None, limit: int) -> None:
    """A declared Content-Length must be a number within `limit`."""
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if size > limit:
            raise ApiError(413, "too_large", f"body exceeds {limit} bytes")


async def read_bounded(request: Request, limit: int) -> bytes:
    check_declared(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_bounded(receive: Receive, declared: str | None, limit: int) -> bytes:
    """`read_bounded` for a plain ASGI app: the request body from `receive`."""
    check_declared(declared, limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def require_json(request: Request) -> None:
    require_json_type(request.headers.get("content-type", ""))


def require_json_type(content_type: str) -> None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")


MAX_DEPTH = 32


_FLAT = (str, int, bool, type(None))  # int: orjson reads integers beyond 64 bits as floats, caught below


def parse_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # a BOM, a lone surrogate, NaN, 1e400, not UTF-8, not JSON: the standard parser's answer
    else:
        if isinstance(value, dict) and all(type(v) in _FLAT for v in value.values()):
            return value  # orjson checked UTF-8 and refuses lone surrogates; one level deep
    return _parse_standard(raw)


def _parse_standard(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "the body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(422, "too_deep", f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError, and integers beyond the 4,300-digit limit
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    _check_tree(value)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN and Infinity; JSON (RFC 8259) does not


def _check_tree(value: Any) -> None:
    """Depth and text of every key and string, iteratively (no recursion on hostile input)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ApiError(422, "too_deep", f"the body nests deeper than {MAX_DEPTH} levels")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str):
                    _check_text(key)
                pending.append((child, depth + 1))


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "invalid_text", "the body holds a string that is not valid Unicode "
                           "(a lone surrogate escape)") from None
