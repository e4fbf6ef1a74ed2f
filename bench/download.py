"""Download: MB/s and peak RSS of the worker's artifact download against a plain httpx stream to disk.

    python -m bench.download {scanbridge|plain} SIM_JSON ORDER_ID DEST_DIR REPEAT  (prints one JSON line)

Each run is a fresh process, so its peak RSS (ru_maxrss) belongs to that one size; small files are
fetched REPEAT times over one client (the worker keeps one) so that the figure is not one connect.
`scanbridge` is IteroClient.download (consumers/download.py into FolderStore: allowed-host check,
size bound, sha256, fsync, atomic rename) with the worker's default chunk size and limits;
`plain` is `client.stream` + `aiter_bytes` written to a new file (one per repeat, as the store makes
one), then fsync — the ceiling.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from consumers.http import new_client
from consumers.itero import pairing
from consumers.itero.client import IteroClient
from consumers.storage import FolderStore
from consumers.tokens import TokenKeepers
from scanbridge.shared import open_state
from schemas.settings import IteroConnection, Settings, WebhookAuth, WorkerSettings


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def plain(url: str, token: str, dest: Path, repeat: int) -> tuple[int, float]:
    size = 0
    async with httpx.AsyncClient(timeout=30.0) as client:
        began = time.perf_counter()
        for i in range(repeat):
            async with client.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response:
                response.raise_for_status()
                # a new file each time, as the store writes one (never one file rewritten in the page cache)
                with open(dest / f"plain-{i}.zip", "xb") as handle:  # noqa: ASYNC230 - the naive ceiling
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
        return size, time.perf_counter() - began


async def scanbridge(sim: dict[str, Any], url: str, dest: Path, repeat: int) -> tuple[int, float]:
    worker = WorkerSettings()
    connection = IteroConnection(
        id="bench-clinic", webhook=WebhookAuth(token="x" * 40), base_url=sim["url"],
        token_url=f"{sim['url']}/oauth/token", access_token=sim["access_token"],
        refresh_token=sim["refresh_token"],
    )
    size = 0
    async with new_client(worker.retry.request_timeout_s) as http, \
            open_state(Settings(state_dir=dest / "state", itero=[connection]), reload=False) as shared:
        client = IteroClient(connection, http, pairing.keeper(TokenKeepers(shared.store), connection))
        began = time.perf_counter()
        for _ in range(repeat):
            stored = await client.download(url, FolderStore(dest / "store"), "bench/IDE.zip",
                                           max_bytes=worker.max_artifact_bytes,
                                           chunk_bytes=worker.download_chunk_bytes)
            if stored is None:
                raise RuntimeError("the simulator answered 204 for an IDE download")
            size += stored.size
        return size, time.perf_counter() - began


def main(argv: list[str]) -> None:
    variant, sim = argv[0], json.loads(Path(argv[1]).read_text())
    order_id, dest, repeat = argv[2], Path(argv[3]), int(argv[4])
    url = f"{sim['url']}/api/third-party/v2/order/{order_id}/download/IDE"
    before = rss_mb()
    if variant == "plain":
        size, seconds = asyncio.run(plain(url, sim["access_token"], dest, repeat))
    else:
        size, seconds = asyncio.run(scanbridge(sim, url, dest, repeat))
    print(json.dumps({"bytes": size, "repeat": repeat, "seconds": seconds, "mb_s": size / 1e6 / seconds,
                      "rss_before_mb": before, "peak_rss_mb": rss_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
