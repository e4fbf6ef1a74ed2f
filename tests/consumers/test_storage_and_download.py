"""The folder store and the download step: verified, atomic, bounded, and only from allowed hosts."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from consumers.download import DownloadRequest, download
from consumers.errors import ArtifactRejected, NotReady, ServerError
from consumers.origin import OriginScope
from consumers.storage import FolderStore, safe_component
from schemas.settings import VendorLimits
from tests.servers import serve

BLOB = bytes(range(256)) * 4096  # 1 MiB


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_a_stored_file_has_its_sha256_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    stored = await store.write("a/b/file.zip", _chunks(BLOB), max_bytes=len(BLOB))
    assert stored.sha256 == hashlib.sha256(BLOB).hexdigest() and stored.size == len(BLOB)
    assert sorted(p.name for p in (tmp_path / "a/b").iterdir()) == ["file.zip"]


async def test_a_file_over_the_limit_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    with pytest.raises(ArtifactRejected):
        await store.write("x/file.zip", _chunks(BLOB), max_bytes=len(BLOB) - 1)
    assert list((tmp_path / "x").iterdir()) == []


async def test_a_path_outside_the_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactRejected):
        await FolderStore(tmp_path / "store").write("../escape.zip", _chunks(b"x"), max_bytes=10)


def test_unsafe_name_parts_become_harmless() -> None:
    assert safe_component("../../etc/passwd").startswith("etc_passwd_")
    assert safe_component("..") not in ("", ".", "..") and safe_component("") not in ("", ".", "..")
    assert "/" not in safe_component("a/b\\c")


def _app(seen: list[dict[str, str]]) -> Starlette:
    async def blob(request: Request) -> Response:
        seen.append(dict(request.headers))
        return StreamingResponse(_chunks(BLOB), media_type="application/zip")

    async def hop(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"])

    async def status(request: Request) -> Response:
        return Response(status_code=int(request.path_params["code"]))

    return Starlette(routes=[Route("/blob", blob), Route("/hop", hop), Route("/status/{code}", status)])


@pytest.fixture
async def origin() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    async with serve(_app(seen)) as url:
        yield url, seen


async def _get(url: str, tmp_path: Path, allowed: set[str], **kw: object) -> object:
    """Download `url` with a bearer token scoped to `url`'s own origin."""
    async with httpx.AsyncClient() as client:
        return await download(
            client,
            DownloadRequest(url, **kw),  # type: ignore[arg-type]
            FolderStore(tmp_path),
            "o/f.zip",
            scope=OriginScope([url], {"Authorization": "Bearer secret"}),
            allowed_hosts=frozenset(allowed),
            max_bytes=10 * len(BLOB),
            chunk_bytes=65536,
            limits=VendorLimits(),
        )


async def test_a_download_streams_into_the_store(
    origin: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, seen = origin
    stored = await _get(f"{url}/blob", tmp_path, {"127.0.0.1"})
    assert stored.sha256 == hashlib.sha256(BLOB).hexdigest()  # type: ignore[attr-defined]
    assert seen[0]["authorization"] == "Bearer secret"


async def test_a_host_not_allowed_is_never_contacted(
    origin: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, seen = origin
    with pytest.raises(ArtifactRejected):
        await _get(f"{url}/blob", tmp_path, {"vendor.example"})
    assert seen == []


async def test_a_redirect_to_a_host_not_allowed_is_refused(
    origin: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, _ = origin
    with pytest.raises(ArtifactRejected):
        await _get(f"{url}/hop?to=http://169.254.169.254/latest", tmp_path, {"127.0.0.1"})


async def test_a_redirect_to_another_allowed_host_drops_the_bearer_token(
    origin: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, seen = origin
    other = url.replace("127.0.0.1", "localhost")
    await _get(f"{url}/hop?to={other}/blob", tmp_path, {"127.0.0.1", "localhost"})
    assert "authorization" not in seen[0]


@pytest.mark.parametrize(("code", "error"), [(404, NotReady), (503, ServerError), (500, ServerError)])
async def test_vendor_answers_become_the_matching_error(
    origin: tuple[str, list[dict[str, str]]], tmp_path: Path, code: int, error: type[Exception]
) -> None:
    url, _ = origin
    with pytest.raises(error):
        await _get(f"{url}/status/{code}", tmp_path, {"127.0.0.1"}, not_found_is_not_ready=True)


async def test_no_content_means_nothing_to_store(
    origin: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, _ = origin
    assert await _get(f"{url}/status/204", tmp_path, {"127.0.0.1"}) is None
