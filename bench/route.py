"""Artifact route: MB/s served for one artifact against the store's own read speed.

    python -m bench.route serve SETTINGS_JSON              (the route: `serve_artifacts`, as the CLI runs it)
    python -m bench.route fetch {route|store} SPEC_JSON REPEAT          (one JSON line)

`route` is an httpx client fetching `GET /artifacts/{id}` with a subscriber's token (for S3, following
the 307 to the pre-signed URL), streaming the body and counting it. `store`, the ceiling, reads the
same bytes straight from the store: the file in 64 KiB reads (what Starlette's FileResponse reads),
or for S3 the same pre-signed GET without the route in front. Each fetch is a fresh process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from scanbridge.runtime import serve_artifacts, stop_event
from schemas.settings import Settings

CHUNK = 64 * 1024


async def serve(settings: Settings) -> None:
    await serve_artifacts(settings, stop_event())


async def via_route(spec: dict[str, Any], repeat: int) -> int:
    size = 0
    headers = {"Authorization": f"Bearer {spec['token']}"}
    async with httpx.AsyncClient(timeout=60.0, follow_redirects=True) as client:
        for _ in range(repeat):
            async with client.stream("GET", f"{spec['route']}/artifacts/{spec['artifact_id']}",
                                     headers=headers) as response:
                response.raise_for_status()
                async for chunk in response.aiter_raw():
                    size += len(chunk)
    return size


async def from_store(spec: dict[str, Any], repeat: int) -> int:
    size = 0
    if spec.get("path"):
        for _ in range(repeat):
            size += await asyncio.to_thread(_read_file, Path(spec["path"]))
        return size
    async with httpx.AsyncClient(timeout=60.0) as client:  # S3: the object itself, pre-signed
        for _ in range(repeat):
            async with client.stream("GET", spec["presigned"]) as response:
                response.raise_for_status()
                async for chunk in response.aiter_raw():
                    size += len(chunk)
    return size


def _read_file(path: Path) -> int:
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
    return size


def main(argv: list[str]) -> None:
    if argv[0] == "serve":
        asyncio.run(serve(Settings.model_validate(json.loads(Path(argv[1]).read_text()))))
        return
    variant, spec, repeat = argv[1], json.loads(Path(argv[2]).read_text()), int(argv[3])
    began = time.perf_counter()
    size = asyncio.run(via_route(spec, repeat) if variant == "route" else from_store(spec, repeat))
    seconds = time.perf_counter() - began
    print(json.dumps({"bytes": size, "repeat": repeat, "seconds": seconds, "mb_s": size / 1e6 / seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
