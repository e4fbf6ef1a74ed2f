"""Deadlines, speed floors and byte caps on vendor calls (DESIGN.md §5.4; `VendorLimits` settings).

httpx's timeouts bound each read, so a vendor dripping a byte now and then never trips them and holds
a worker slot for as long as it likes. Here:

- `within(seconds)`: one deadline for a whole API call — connect, headers and body together.
- `speed_floor(limits)`: a download must deliver `download_min_bytes_per_s × download_window_s`
  bytes in every window of `download_window_s` seconds (curl's --speed-limit / --speed-time); the
  first window starts with the request, so the answer's headers are due within it too.
- `read_capped(response, max_bytes)`: the body up to `max_bytes`; beyond, `AnswerTooLarge` and no
  further byte is read (a declared Content-Length over the cap is refused before reading).
- `CappedTransport`: the same cap for clients whose answers a library reads (authlib's token calls).

Both time limits raise `TooSlow`, a `ServerError`: the retry policy decides, the slot is freed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from consumers.errors import AnswerTooLarge, TooSlow
from schemas.settings import VendorLimits

Pace = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]


@asynccontextmanager
async def within(seconds: float, what: str) -> AsyncIterator[None]:
    """Cancel the block after `seconds` and raise `TooSlow` instead."""
    timeout = asyncio.timeout(seconds)
    try:
        async with timeout:
            yield
    except TimeoutError as exc:
        if timeout.expired():
            raise TooSlow(f"{what}: no complete answer within {seconds:g} s") from exc
        raise


@asynccontextmanager
async def speed_floor(limits: VendorLimits, what: str) -> AsyncIterator[Pace]:
    """Yield `pace`: wrap the body's chunks in it; the block is cancelled (→ `TooSlow`) as soon as a
    window passes without its quota of bytes."""
    loop = asyncio.get_running_loop()
    window = limits.download_window_s
    quota = limits.download_min_bytes_per_s * window
    timeout = asyncio.timeout(window)

    async def pace(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        got = 0
        async for chunk in chunks:
            got += len(chunk)
            if got >= quota:  # this window's quota is met: the next one starts now
                got = 0
                timeout.reschedule(loop.time() + window)
            yield chunk

    try:
        async with timeout:
            yield pace
    except TimeoutError as exc:
        if timeout.expired():
            raise TooSlow(f"{what}: slower than {limits.download_min_bytes_per_s:g} bytes/s "
                          f"over {window:g} s") from exc
        raise


def declared_size(response: httpx.Response) -> int | None:
    """Content-Length as a number, or None; absurdly long values count as huge, not as an error."""
    value = response.headers.get("content-length", "").strip()
    if not value.isascii() or not value.isdigit():
        return None
    return int(value) if len(value) <= 18 else 10**18


async def read_capped(response: httpx.Response, max_bytes: int, what: str, *,
                      truncate: bool = False) -> bytes:
    """The (decoded) body up to `max_bytes`; `truncate` returns the first `max_bytes` instead of raising."""
    declared = declared_size(response)
    if not truncate and declared is not None and declared > max_bytes:
        raise AnswerTooLarge(f"{what}: answer of {declared} bytes exceeds the cap of {max_bytes}")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            if truncate:
                return bytes(body[:max_bytes])
            raise AnswerTooLarge(f"{what}: answer exceeds the cap of {max_bytes} bytes")
    return bytes(body)


TOKEN_ANSWER_BYTES = 1024**2  # a token answer is a few hundred bytes


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, max_bytes: int) -> None:
        self._inner = inner
        self._max_bytes = max_bytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        got = 0
        async for chunk in self._inner:
            got += len(chunk)
            if got > self._max_bytes:
                raise AnswerTooLarge(f"answer exceeds the cap of {self._max_bytes} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CappedTransport(httpx.AsyncBaseTransport):
    """For clients whose answers a library reads (authlib's token calls): each body is capped at
    `max_bytes` as it arrives; compression is declined and never decoded (a compressed answer is then
    unreadable rather than a decompression bomb)."""

    def __init__(self, max_bytes: int = TOKEN_ANSWER_BYTES,
                 inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._max_bytes = max_bytes
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["accept-encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=headers, extensions=response.extensions,
                              stream=_CappedStream(response.stream, self._max_bytes))

    async def aclose(self) -> None:
        await self._inner.aclose()
