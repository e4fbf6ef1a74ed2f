"""uvicorn's httptools protocol with the writes of one loop step sent as one (issue 16).

uvicorn writes an answer's status line and headers with one `transport.write`, then its body with another;
on uvloop each write is a `send()` system call at once, and on loopback the kernel hands each segment to the
client there and then. A webhook's answer is written in one step of the loop, so held until the end of that
step (`call_soon`) the two writes go out as one system call and one segment. Writes keep their order;
`close` sends what is held first. Used by the receiver (scanbridge/runtime.py) and the bench's bare endpoint.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWrites:
    """A transport whose writes of one loop step reach the wrapped one as a single write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        held, self._held = self._held, []
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(data) for data in self._held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (`uvicorn.Config(http=JoinedWritesProtocol)`) over `JoinedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, JoinedWrites(transport, self.loop)))
