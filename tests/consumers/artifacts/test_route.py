"""GET /artifacts/{artifact_id} over real HTTP on both stores: bearer token per subscriber, Range,
ETag / If-None-Match, Content-Disposition, S3 redirect to a pre-signed URL, 401 / 404 without detail,
an audit record per fetch without the file name."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from bus.base import Bus
from consumers.artifacts.base import ArtifactStore
from consumers.artifacts.route import create_route_app, token_digest
from consumers.context import WorkContext
from consumers.pipeline import store_artifacts
from schemas.events import StoredArtifact
from schemas.settings import ArtifactRouteSettings, StorageSettings, Subscriber
from schemas.topics import Topics
from tests.consumers.artifacts.test_announce import SCAN, _job, _order
from tests.events import collect
from tests.servers import serve

TOKEN = "lab-a-token-" + "x" * 32
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def stored(ctx: WorkContext, bus: Bus, topics: Topics) -> StoredArtifact:
    await store_artifacts(_order(), "rx-1", [_job(ctx, SCAN)], ctx)
    [event, _completed] = await collect(bus, [topics.artifacts], lambda e: len(e) >= 2)
    return StoredArtifact.model_validate(event.data)


@pytest.fixture
async def route(store: ArtifactStore, ctx: WorkContext) -> AsyncIterator[httpx.AsyncClient]:
    settings = ArtifactRouteSettings(presign_ttl_s=60, subscribers=[
        Subscriber(name="lab-a", token_sha256=token_digest(TOKEN)),
        Subscriber(name="lab-b", token_sha256=token_digest("another-token-" + "y" * 30)),
    ])
    app = create_route_app(settings, store, ctx.state)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def test_a_subscriber_fetches_the_bytes_by_artifact_id(
    route: httpx.AsyncClient, stored: StoredArtifact
) -> None:
    answer = await route.get(f"/artifacts/{stored.artifact_id}", headers=AUTH, follow_redirects=True)
    assert answer.status_code == 200 and answer.content == SCAN
    assert hashlib.sha256(answer.content).hexdigest() == stored.sha256
    assert answer.headers["content-disposition"] == 'attachment; filename="IDE.zip"'


async def test_a_range_is_served_and_one_beyond_the_end_is_416(
    route: httpx.AsyncClient, stored: StoredArtifact
) -> None:
    part = await route.get(f"/artifacts/{stored.artifact_id}", follow_redirects=True,
                           headers={**AUTH, "range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == SCAN[10:20]
    beyond = await route.get(f"/artifacts/{stored.artifact_id}", follow_redirects=True,
                             headers={**AUTH, "range": f"bytes={len(SCAN) + 10}-"})
    assert beyond.status_code == 416


async def test_the_etag_is_the_sha256_and_if_none_match_gives_304(
    route: httpx.AsyncClient, stored: StoredArtifact
) -> None:
    first = await route.get(f"/artifacts/{stored.artifact_id}", headers=AUTH)
    assert first.headers["etag"] == f'"{stored.sha256}"'
    again = await route.get(f"/artifacts/{stored.artifact_id}",
                            headers={**AUTH, "if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_s3_answers_with_a_short_lived_presigned_redirect(
    route: httpx.AsyncClient, stored: StoredArtifact, storage_settings: StorageSettings
) -> None:
    answer = await route.get(f"/artifacts/{stored.artifact_id}", headers=AUTH)
    if storage_settings.backend == "folder":
        assert answer.status_code == 200  # the folder streams the file itself
        return
    assert answer.status_code == 307
    location = answer.headers["location"]
    assert location.startswith(str(storage_settings.s3.endpoint)) and "X-Amz-Expires=60" in location
    assert TOKEN not in location


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"},
                                     {"authorization": f"Basic {TOKEN}"}, {"authorization": "Bearer"}])
async def test_a_missing_or_wrong_token_is_401_without_detail(
    route: httpx.AsyncClient, stored: StoredArtifact, headers: dict[str, str]
) -> None:
    for artifact_id in (stored.artifact_id, str(uuid.uuid4())):  # the same answer: ids cannot be probed
        answer = await route.get(f"/artifacts/{artifact_id}", headers=headers)
        assert answer.status_code == 401 and answer.json() == {"error": "unauthorized"}


@pytest.mark.parametrize("artifact_id", [str(uuid.uuid4()), "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "not-a-uuid",
                                         "3F2504E0-4F89-11D3-9A0C-0305E82C3301"])
async def test_an_unknown_id_or_a_path_is_404_without_detail(
    route: httpx.AsyncClient, stored: StoredArtifact, artifact_id: str
) -> None:
    answer = await route.get(f"/artifacts/{artifact_id}", headers=AUTH)
    assert answer.status_code == 404 and answer.json() == {"error": "not found"}


async def test_every_fetch_is_an_audit_record_naming_who_and_which_not_the_file(
    route: httpx.AsyncClient, stored: StoredArtifact, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="scanbridge.audit"):
        await route.get(f"/artifacts/{stored.artifact_id}", headers=AUTH)
        await route.get(f"/artifacts/{stored.artifact_id}", headers={"authorization": "Bearer wrong"})
    lines = [r.getMessage() for r in caplog.records if r.name == "scanbridge.audit"]
    assert len(lines) == 2
    assert "subscriber=lab-a" in lines[0] and f"artifact={stored.artifact_id}" in lines[0]
    assert "unauthorized" in lines[1]
    assert not any("IDE.zip" in line or TOKEN in line for line in lines)
