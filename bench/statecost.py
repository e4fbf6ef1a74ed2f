"""The state store's cost per webhook and per artifact (issue 12 "Benchmarks"), one fresh process per
measurement: `python -m bench.statecost <webhook|artifact> <none|sqlite|postgres> <count> <workdir> [dsn key]`
(`key`: the credentials key every PostgreSQL run shares, as hosts do).

Both run in-process on a bus that drops what it is given, so nothing but scanbridge's own work and the
state store is timed. `none` is the run without a store behind it: for a webhook, the receiver's
connections catalog built from the configuration alone and no command links (`_NoLinks`; a receiver
always has a store, if one that may be down); for an artifact, the pipeline's markers in a dict. The
parent (`bench/__main__.py`) reports each store as a ratio to `none`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
from pydantic import SecretStr

from bus.base import Bus
from consumers.claims import OrderClaims
from consumers.clock import RealClock
from consumers.context import Shared, WorkContext
from consumers.pipeline import ArtifactJob, announce_order, store_artifacts
from consumers.publish import Publisher
from consumers.storage import FolderStore, StoredFile
from scanbridge.plugin import configured, connection_models
from scanbridge.receiving import create_app
from scanbridge.shared import open_state
from scanbridge.vendors import VENDORS
from schemas.envelope import Envelope
from schemas.events import ArtifactRef, Order
from schemas.settings import IteroConnection, Settings, StateSettings, WebhookAuth
from state.base import ConnectionKey, Marker, MarkerKey, StateStore
from state.shared import SharedState, make_catalog

ARTIFACT = b"PK\x03\x04" + bytes(range(256)) * 4  # 1 KiB: the store's work, not the disk's, is timed


class DropBus:
    """A bus that acknowledges at once and keeps nothing."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, event: Envelope) -> None: ...

    async def publish_many(self, records: list[tuple[str, Envelope]]) -> None: ...

    async def ready(self) -> bool:
        return True

    async def ensure_topics(self, topics: list[str]) -> None: ...


class DictMarkers:
    """The markers without a store: a dict in this process."""

    def __init__(self) -> None:
        self.rows: dict[MarkerKey, Marker] = {}

    async def put_if_absent(self, marker: Marker) -> bool:
        return self.rows.setdefault(marker.key, marker) is marker

    async def get(self, key: MarkerKey) -> Marker | None:
        return self.rows.get(key)

    async def get_files(self, key: MarkerKey, files: list[str]) -> dict[str, Marker]:
        found = {file: self.rows.get(MarkerKey(key.vendor, key.account, key.order, key.version, file))
                 for file in files}
        return {file: marker for file, marker in found.items() if marker is not None}

    async def latest(self, vendor: str, account: str, order: str, file: str) -> Marker | None:
        found = [m for k, m in self.rows.items() if (k.vendor, k.account, k.order, k.file) ==
                 (vendor, account, order, file)]
        return found[-1] if found else None


class _NoMaps:
    async def items(self, key: ConnectionKey, name: str) -> dict[str, str]:
        return {}


class _NoLinks:
    """A state store of command links only, none made (what the iTero route reads, receiver/links.py)."""

    def __init__(self) -> None:
        self.maps = _NoMaps()


def _settings(workdir: Path, backend: str, dsn: str | None, token: str) -> Settings:
    state = (StateSettings(backend="postgres", dsn=SecretStr(dsn)) if backend == "postgres" and dsn
             else StateSettings(path=workdir / "state.sqlite3"))
    fake = {"token_url": "http://127.0.0.1:9/t", "access_token": secrets.token_urlsafe(16),
            "refresh_token": secrets.token_urlsafe(16)}  # never called: the bus drops the events
    itero = IteroConnection.model_validate({"id": "clinic", "company_id": "4242", "poll": False,
                                            "webhook": WebhookAuth(token=SecretStr(token)),
                                            "base_url": "http://127.0.0.1:9", **fake})
    return Settings(state=state, state_dir=workdir / "state", itero=[itero])


@asynccontextmanager
async def _opened(settings: Settings, backend: str) -> AsyncIterator[SharedState | None]:
    if backend == "none":
        yield None
        return
    async with open_state(settings, reload=False) as shared:
        yield shared


async def webhooks(settings: Settings, backend: str, count: int, token: str) -> float:
    """Seconds for `count` iTero notifications through the receiver app, one after the other."""
    async with _opened(settings, backend) as shared:
        if shared is None:  # the catalog from the configuration alone, no store behind it
            catalog = make_catalog(settings, None, connection_models(VENDORS), configured(VENDORS, settings))
            await catalog.load()
            shared = SharedState(cast(StateStore, _NoLinks()), catalog, asyncio.Event())
        app = create_app(settings, cast(Bus, DropBus()), manage_bus=False, shared=shared)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            bodies = [json.dumps({"Id": str(uuid.uuid4()), "CompanyId": 4242}).encode()
                      for _ in range(count + 50)]
            for body in bodies[:50]:  # warm-up
                await client.post(f"/hooks/itero/{token}", content=body)
            started = time.perf_counter()
            for body in bodies[50:]:
                answer = await client.post(f"/hooks/itero/{token}", content=body,
                                           headers={"content-type": "application/json"})
                assert answer.status_code == 202, answer.text
            return time.perf_counter() - started


def _job(store: FolderStore, name: str) -> ArtifactJob:
    async def chunks() -> AsyncIterator[bytes]:
        yield ARTIFACT

    async def fetch(relative: str) -> StoredFile | None:
        return await store.write(relative, chunks(), 1 << 20)

    return ArtifactJob(ref=ArtifactRef(kind="scan_3d", vendor_ref=name), file_name=f"{name}.zip",
                       media_type="application/zip", fetch=fetch)


async def artifacts(settings: Settings, backend: str, count: int, workdir: Path) -> float:
    """Seconds for `count` orders of two artifacts each through claim + announce + store + announce."""
    store = FolderStore(workdir / "artifacts")
    account = uuid.uuid4().hex  # a store used before (PostgreSQL) holds no marker of this run
    async with _opened(settings, backend) as shared:
        state: Any = _Markers(DictMarkers()) if shared is None else shared.store
        catalog: Any = None if shared is None else shared.catalog
        async with httpx.AsyncClient() as http:
            publisher = Publisher(cast(Bus, DropBus()), settings.bus.topics)
            ctx = WorkContext(settings=settings, publisher=publisher, store=store, clock=RealClock(),
                              http=http, shared=Shared(state, catalog))
            # The worker claims each order in the store (consumers/claims.py): part of the store's cost.
            claims = None if shared is None else OrderClaims(shared.store.claims, 30.0, RealClock())
            started = 0.0
            for n in range(count + 10):
                if n == 10:
                    started = time.perf_counter()  # after the warm-up
                order = Order(vendor="itero", account=account, connection="clinic", order_id=f"o-{n}",
                              stage="scanned", version="v1", vendor_record={}, updated_at=datetime.now(UTC))
                work = partial(_order_work, order, f"rx-{n}", store, ctx)
                await (work() if claims is None else claims.run(f"itero:{account}:rx-{n}", work))
            return time.perf_counter() - started


async def _order_work(order: Order, subject: str, store: FolderStore, ctx: WorkContext) -> None:
    order = await announce_order(order, subject, ctx)
    await store_artifacts(order, subject, [_job(store, "IDE"), _job(store, "images")], ctx)


class _Markers:
    """A state store of markers only (all the pipeline reads of it), kept in a dict."""

    def __init__(self, markers: DictMarkers) -> None:
        self.markers = markers
        self.connections = self.credentials = None  # the pipeline reads neither


def main(argv: Iterable[str]) -> None:
    what, backend, count_text, workdir_text, *rest = list(argv)
    count = int(count_text)
    Path(workdir_text).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=workdir_text))  # a fresh folder and SQLite file per run
    token = secrets.token_urlsafe(32)
    settings = _settings(workdir, backend, rest[0] if rest else None, token)
    if backend == "postgres":
        os.environ["SCANBRIDGE_CREDENTIALS_KEYS"] = rest[1]
    if what == "webhook":
        seconds = asyncio.run(webhooks(settings, backend, count, token))
    else:
        seconds = asyncio.run(artifacts(settings, backend, count, workdir))
        count *= 2  # two artifacts per order
    print(json.dumps({"what": what, "backend": backend, "count": count, "seconds": seconds,
                      "per_s": count / seconds, "us_each": seconds / count * 1e6}))


if __name__ == "__main__":
    main(sys.argv[1:])
