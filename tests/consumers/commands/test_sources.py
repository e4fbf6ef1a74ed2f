"""Upload sources (consumers/commands/sources.py): only what configuration allows, measured in one pass,
remote bytes spooled privately and capped while streaming."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from consumers.commands import sources
from consumers.commands.sources import open_source
from consumers.errors import InvalidCommand
from consumers.http import new_client
from schemas.commands.settings import CommandSettings
from schemas.settings import Settings
from tests.servers import serve


class _Ctx:
    def __init__(self, settings: Settings, http: Any = None) -> None:
        self.settings = settings
        self.http = http
        self.store = None


def _settings(tmp_path: Path, **commands: Any) -> Settings:
    (tmp_path / "up").mkdir(exist_ok=True)
    return Settings(state_dir=tmp_path / "state",
                    commands=CommandSettings(upload_roots=[tmp_path / "up"], **commands))


async def test_a_local_file_is_measured_with_its_base64_md5(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = tmp_path / "up" / "a b.stl"
    path.write_bytes(b"x" * 5000)
    found = await open_source(path.as_uri(), _Ctx(settings), name=None)  # type: ignore[arg-type]
    assert (found.name, found.size, found.spooled) == ("a b.stl", 5000, False)
    digest = hashlib.md5(b"x" * 5000, usedforsecurity=False).digest()
    assert found.md5_b64 == base64.b64encode(digest).decode()


async def test_a_symlink_out_of_the_allowed_folder_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    secret = tmp_path / "secret.key"
    secret.write_text("private")
    os.symlink(secret, tmp_path / "up" / "innocent.stl")
    with pytest.raises(InvalidCommand) as refused:
        link = (tmp_path / "up" / "innocent.stl").as_uri()
        await open_source(link, _Ctx(settings), name=None)  # type: ignore[arg-type]
    assert refused.value.reason == "not_authorized"


async def _endless(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"y" * 65536
    return StreamingResponse(body())


async def test_a_remote_source_is_spooled_and_cut_at_the_limit_leaving_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_upload_bytes=1024 * 1024, chunk_bytes=65536)
    async with serve(Starlette(routes=[Route("/f", _endless)])) as url, new_client(10.0) as http:
        with pytest.raises(InvalidCommand) as refused:
            await sources._fetch(f"{url}/f", _Ctx(settings, http), check_host=False)  # type: ignore[arg-type]
        assert refused.value.reason == "too_large"
        assert list((tmp_path / "state" / sources.SPOOL).iterdir()) == []
        settings.commands.max_upload_bytes = 8 * 1024 * 1024
        path = await sources._fetch(f"{url}/f", _Ctx(settings, http), check_host=False)  # type: ignore[arg-type]
        assert path.stat().st_size == 64 * 65536 and oct(path.stat().st_mode & 0o777) == "0o600"
