"""An answer's writes joined into one (scanbridge/httpwrites.py): one write per loop step, in order, flushed
before a close, and uvicorn serving through it answers as before (keep-alive, streamed bodies)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from scanbridge.httpwrites import JoinedWrites, JoinedWritesProtocol
from tests.servers import serve


class Recorded:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return name


async def test_the_writes_of_one_step_reach_the_transport_as_one_in_order() -> None:
    recorded = Recorded()
    joined = JoinedWrites(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(b"HTTP/1.1 202 Accepted\r\n\r\n")
    joined.write(b'{"accepted":true}')
    assert recorded.writes == [] and joined.get_write_buffer_size() == 42
    await asyncio.sleep(0)
    assert recorded.writes == [b'HTTP/1.1 202 Accepted\r\n\r\n{"accepted":true}']
    joined.write(b"next")
    await asyncio.sleep(0)
    assert recorded.writes[1:] == [b"next"]
    assert joined.get_extra_info("peername") == "peername"  # everything else is the transport's


async def test_a_close_sends_what_is_held_first_and_a_closed_transport_gets_nothing() -> None:
    recorded = Recorded()
    joined = JoinedWrites(recorded, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(b"last answer")
    joined.close()
    assert recorded.writes == [b"last answer"] and recorded.closing
    joined.write(b"too late")
    await asyncio.sleep(0)
    assert recorded.writes == [b"last answer"]


async def test_uvicorn_answers_through_it_as_before() -> None:
    async def hook(request: Request) -> JSONResponse:
        return JSONResponse({"received": len(await request.body())}, status_code=202)

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> Any:
            for index in range(3):
                await asyncio.sleep(0.001)
                yield f"part {index};".encode()

        return StreamingResponse(chunks())

    async def empty(request: Request) -> Response:
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/stream", stream),
                            Route("/empty", empty)])
    async with serve(app, http=JoinedWritesProtocol) as url, httpx.AsyncClient(base_url=url) as client:
        for size in (0, 10, 300_000):  # one connection, kept alive across the requests
            answer = await client.post("/hook", content=b"x" * size)
            assert (answer.status_code, answer.json()) == (202, {"received": size})
        assert (await client.get("/stream")).text == "part 0;part 1;part 2;"
        assert (await client.get("/empty")).status_code == 204
        closing = await client.post("/hook", content=b"{}", headers={"connection": "close"})
        assert (closing.status_code, closing.json()) == (202, {"received": 2})
