"""The behavioural artifact-store suite runs once per backend: tests taking `store` run on the folder and
on S3 (the project's S3Proxy, a real S3-compatible server over loopback). Each test has its own
key prefix in one session bucket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from bus.base import Bus
from bus.factory import make_bus
from consumers.artifacts.base import ArtifactStore, Placement
from consumers.artifacts.factory import make_store
from consumers.artifacts.s3 import S3Store
from consumers.clock import RealClock
from consumers.context import WorkContext
from consumers.publish import Publisher
from schemas.settings import BusSettings, RetrySettings, S3Settings, Settings, StorageSettings
from schemas.topics import Topics
from tests.s3_server import S3Server
from tests.shared import shared_state

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

BUCKET = "scanbridge-test"
FAST = RetrySettings(initial_delay_s=0.01, max_delay_s=0.05, server_error_for_s=2.0, not_ready_for_s=2.0)
PART = 5 * 1024 * 1024  # the S3 minimum part size


def client_config() -> AioConfig:
    return AioConfig(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                     response_checksum_validation="when_required", retries={"total_max_attempts": 1})


def open_client(s3: S3Server) -> Any:
    """A plain client, to look at what the store left in the bucket."""
    return get_session().create_client(
        "s3", endpoint_url=s3.endpoint, region_name="us-east-1", config=client_config(),
        aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key,
    )


@pytest.fixture(scope="session")
async def s3_bucket(s3: S3Server) -> str:
    async with open_client(s3) as client:
        buckets = {b["Name"] for b in (await client.list_buckets()).get("Buckets", [])}
        if BUCKET not in buckets:
            await client.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
async def s3_client(s3: S3Server, s3_bucket: str) -> AsyncIterator[S3Client]:
    async with open_client(s3) as client:
        yield client


def s3_settings_for(s3: S3Server, secrets_dir: Path, **changes: Any) -> S3Settings:
    secrets_dir.mkdir(parents=True, exist_ok=True)
    (secrets_dir / "key-id").write_text(s3.access_key + "\n")
    (secrets_dir / "secret").write_text(s3.secret_key + "\n")
    values: dict[str, Any] = {
        "endpoint": s3.endpoint, "bucket": BUCKET, "prefix": f"t-{uuid.uuid4().hex[:10]}/",
        "addressing_style": "path", "access_key_id_file": secrets_dir / "key-id",
        "secret_access_key_file": secrets_dir / "secret", "part_size_bytes": PART, "max_parts_in_flight": 2,
    }
    return S3Settings(**{**values, **changes})


@pytest.fixture
def s3_settings(s3: S3Server, s3_bucket: str, tmp_path: Path) -> S3Settings:
    return s3_settings_for(s3, tmp_path / "secrets")


@pytest.fixture
async def s3_store(s3_settings: S3Settings, tmp_path: Path) -> AsyncIterator[S3Store]:
    store = S3Store(s3_settings, tmp_path / "root", policy=FAST, clock=RealClock())
    await store.start()
    yield store
    await store.close()


@pytest.fixture(params=["folder", "s3"])
def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> StorageSettings:
    """Settings of one backend (the end-to-end tests hand them to the worker)."""
    if request.param == "s3":
        s3: S3Settings = request.getfixturevalue("s3_settings")
        return StorageSettings(backend="s3", root=tmp_path / "root", s3=s3)
    return StorageSettings(backend="folder", root=tmp_path / "store")


@pytest.fixture
async def store(storage_settings: StorageSettings) -> AsyncIterator[ArtifactStore]:
    backend = make_store(storage_settings, policy=FAST, clock=RealClock())
    await backend.start()
    yield backend
    await backend.close()


@pytest.fixture
def read_back(storage_settings: StorageSettings, request: pytest.FixtureRequest) -> Any:
    """Fetch what a placement points at the way a downstream service would: the file, or GetObject."""
    server: S3Server | None = request.getfixturevalue("s3") if storage_settings.backend == "s3" else None

    async def read(placement: Placement) -> bytes | None:
        if placement.uri.startswith("file://"):
            return _read_file(Path(placement.uri.removeprefix("file://")))
        assert server is not None and placement.bucket is not None
        async with open_client(server) as client:
            try:
                answer = await client.get_object(Bucket=placement.bucket, Key=placement.key)
            except client.exceptions.NoSuchKey:
                return None
            async with answer["Body"] as body:
                return bytes(await body.read())

    return read


def _read_file(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


@pytest.fixture
async def bus(tmp_path: Path, topics: Topics) -> AsyncIterator[Bus]:
    backend = make_bus(BusSettings(backend="local", local_path=tmp_path / "bus.sqlite3", topics=topics))
    await backend.ensure_topics(topics.all())
    await backend.start()
    yield backend
    await backend.close()


@pytest.fixture
async def ctx(store: ArtifactStore, storage_settings: StorageSettings, bus: Bus,
              topics: Topics, tmp_path: Path) -> AsyncIterator[WorkContext]:
    settings = Settings(bus=BusSettings(backend="local", topics=topics), storage=storage_settings,
                        state_dir=tmp_path / "state")
    async with httpx.AsyncClient() as http, shared_state(settings) as shared:
        yield WorkContext(settings=settings, publisher=Publisher(bus, topics), store=store,
                          clock=RealClock(), http=http, shared=shared)
