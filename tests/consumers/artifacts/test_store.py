"""What every artifact store does, on the folder and on a real S3-compatible server."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from consumers.artifacts.base import ArtifactStore, Intent, ObjectMeta, Placement
from consumers.errors import ArtifactRejected
from consumers.storage import HEAD_BYTES, TAIL_BYTES

BLOB = bytes(range(256)) * 4096  # 1 MiB
META = ObjectMeta(vendor="itero", account="42", order="o-1", version="v1", kind="scan_3d",
                  file_name="IDE.zip", media_type="application/zip")
INTENT = Intent(META)


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def stored(store: ArtifactStore, relative: str, data: bytes, size: int = 65536) -> Placement:
    """`data` written (in chunks of `size`) and committed as the artifact META describes."""
    return await store.commit(await store.write(relative, chunks(data, size), len(data), intent=INTENT), META)


async def test_committed_bytes_are_fetchable_with_their_sha256_and_size(
    store: ArtifactStore, read_back: Any
) -> None:
    staged = await store.write("itero/42/rx/v1/scan_3d/IDE.zip", chunks(BLOB), max_bytes=len(BLOB),
                               intent=Intent(META, whole_file=True))
    assert staged.sha256 == hashlib.sha256(BLOB).hexdigest() and staged.size == len(BLOB)
    assert (staged.head, staged.tail) == (BLOB[:HEAD_BYTES], BLOB[-TAIL_BYTES:])  # for the vendor checks
    assert staged.path is not None and staged.path.read_bytes() == BLOB  # a check reading it all
    assert staged.path.stat().st_mode & 0o777 == 0o600  # private: the bytes may be a patient's
    placement = await store.commit(staged, META)
    assert (placement.sha256, placement.size, placement.existed) == (staged.sha256, len(BLOB), False)
    assert placement.key.endswith("itero/42/rx/v1/scan_3d/IDE.zip")
    assert placement.uri.startswith(("s3://", "file://"))
    assert await read_back(placement) == BLOB


async def test_an_artifact_over_the_limit_is_refused_and_leaves_nothing(
    store: ArtifactStore, read_back: Any
) -> None:
    with pytest.raises(ArtifactRejected):
        await store.write("v/a/o/v1/scan_3d/big.zip", chunks(BLOB), max_bytes=len(BLOB) - 1, intent=INTENT)
    small = await store.write("v/a/o/v1/scan_3d/big.zip", chunks(b"ok"), max_bytes=10, intent=INTENT)
    assert await read_back(await store.commit(small, META)) == b"ok"


async def test_a_path_that_escapes_the_store_is_refused(store: ArtifactStore) -> None:
    for bad in ("../escape.zip", "a/../../escape.zip", "/etc/escape.zip"):
        with pytest.raises(ArtifactRejected):
            await store.write(bad, chunks(b"x"), max_bytes=10, intent=INTENT)


async def test_discarded_bytes_are_never_readable(store: ArtifactStore, read_back: Any) -> None:
    staged = await store.write("v/a/o/v1/images/bad.zip", chunks(b"not a zip"), max_bytes=100, intent=INTENT)
    await store.discard(staged)
    assert staged.path is None or not staged.path.exists()
    placement = await stored(store, "v/a/o/v1/images/bad.zip", b"z")
    assert await read_back(placement) == b"z"
