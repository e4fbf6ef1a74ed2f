"""Where a file to upload comes from (README "Acting on vendors"): an artifact id of our store, an `s3://`
URI in our store's bucket, a `file://` URI under a folder of `commands.upload_roots`, or an `https` URL on a
host of `commands.upload_hosts`. Nothing else: a command must not make scanbridge read any file or URL it
can reach (DESIGN.md §5.4, no SSRF).

A local file is read where it is; anything remote is first streamed to a private spool file (bounded
memory, the size cap enforced while streaming), so the bytes measured are the bytes uploaded. Size and
the MD5 (base64, as Medit's `hashValue` and S3's `Content-MD5` want) are computed in one streaming pass.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from consumers import announced
from consumers.context import WorkContext
from consumers.errors import InvalidCommand

SPOOL = "command-uploads"


@dataclass(frozen=True)
class UploadFile:
    path: Path
    name: str
    size: int
    md5_b64: str
    spooled: bool  # ours to delete when done

    def discard(self) -> None:
        if self.spooled:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def chunks(self, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The file in chunks of `chunk_bytes`, read in a thread: memory stays one chunk."""
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
                yield chunk
        finally:
            handle.close()


def _refuse(reason: str, message: str) -> InvalidCommand:
    return InvalidCommand(reason, message)


def _measure(path: Path, chunk_bytes: int) -> tuple[int, str]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return size, base64.b64encode(digest.digest()).decode()


async def open_source(source: str, ctx: WorkContext, *, name: str | None) -> UploadFile:
    """The file `source` names, measured; `InvalidCommand` when it is not allowed, missing or too large."""
    settings = ctx.settings.commands
    found: Path | str
    if source.startswith("file://"):
        found = _local(source, settings.upload_roots)
    elif source.startswith(("https://", "http://")):
        found = await _fetch(source, ctx, check_host=True)
    elif source.startswith("s3://"):
        found = await _in_store(ctx, _s3_relative(source, ctx))
    else:
        found = await _in_store(ctx, await _artifact_relative(source, ctx))
    spooled = isinstance(found, Path) and found.parent == ctx.settings.state_dir / SPOOL
    if isinstance(found, str):  # a pre-signed URL of our S3 store
        found, spooled = await _fetch(found, ctx, check_host=False), True
    path = found
    try:
        limit = settings.max_upload_bytes
        with contextlib.suppress(OSError):
            if path.stat().st_size > limit:
                raise _refuse("too_large", f"the file is over the vendor's limit of {limit} bytes")
        size, md5 = await asyncio.to_thread(_measure, path, settings.chunk_bytes)
    except FileNotFoundError:
        raise _refuse("source_unavailable", "the source file does not exist") from None
    except BaseException:
        if spooled:
            path.unlink(missing_ok=True)
        raise
    if size == 0:
        if spooled:
            path.unlink(missing_ok=True)
        raise _refuse("invalid", "the source file is empty (Medit: size must be at least 1)")
    return UploadFile(path, name or _name_of(source, path), size, md5, spooled)


def _name_of(source: str, path: Path) -> str:
    last = unquote(urlparse(source).path.rsplit("/", 1)[-1]) if "://" in source else path.name
    return last or path.name


def _local(source: str, roots: list[Path]) -> Path:
    parsed = urlparse(source)
    if parsed.netloc not in ("", "localhost"):
        raise _refuse("invalid", "a file:// source names a file of this host only")
    path = Path(unquote(parsed.path)).resolve()
    if not any(path.is_relative_to(root.resolve()) for root in roots):
        raise _refuse("not_authorized", "file:// sources must be under a folder of commands.upload_roots")
    if not path.is_file():
        raise _refuse("source_unavailable", "the source file does not exist")
    return path


async def _artifact_relative(source: str, ctx: WorkContext) -> str:
    found = await announced.find(ctx.state, source)  # its announcement marker, in the state store
    if found is None or not isinstance(found.get("relative_path"), str):
        raise _refuse("source_unavailable", "no stored artifact has this id (nor is it a known URI scheme)")
    return str(found["relative_path"])


def _s3_relative(source: str, ctx: WorkContext) -> str:
    storage = ctx.settings.storage
    parsed = urlparse(source)
    prefix = storage.s3.prefix
    key = parsed.path.lstrip("/")
    if storage.backend != "s3" or parsed.netloc != storage.s3.bucket or not key.startswith(prefix):
        raise _refuse("not_authorized", "s3:// sources must be in the artifact store's bucket and prefix")
    return key[len(prefix):]


async def _in_store(ctx: WorkContext, relative: str) -> Path | str:
    if ".." in relative.split("/"):
        raise _refuse("invalid", "the artifact's path is not a path of the store")
    return await ctx.store.locate(relative, ttl_s=600)


async def _fetch(url: str, ctx: WorkContext, *, check_host: bool) -> Path:
    """Stream `url` to a private spool file, no credentials sent, capped at the upload limit."""
    settings = ctx.settings.commands
    parsed = httpx.URL(url)
    if check_host and (parsed.scheme != "https" or parsed.host not in settings.upload_hosts):
        raise _refuse("not_authorized", "https sources must be on a host of commands.upload_hosts")
    folder = ctx.settings.state_dir / SPOOL
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{uuid.uuid4().hex}.part"
    got = 0
    try:
        async with ctx.http.stream("GET", url) as response:
            if response.status_code != 200:
                raise _refuse("source_unavailable", f"the source answered {response.status_code}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                async for chunk in response.aiter_bytes(settings.chunk_bytes):
                    got += len(chunk)
                    if got > settings.max_upload_bytes:
                        raise _refuse("too_large", f"the file is over the vendor's limit of "
                                                   f"{settings.max_upload_bytes} bytes")
                    await asyncio.to_thread(out.write, chunk)
    except httpx.HTTPError as exc:
        path.unlink(missing_ok=True)
        raise _refuse("source_unavailable", f"the source cannot be read: {type(exc).__name__}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
