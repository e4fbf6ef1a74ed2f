"""The iTero checks of downloaded bytes (Align §3.6: IDE and gallery zips, screen captures as JPG) read
only what the store keeps of every write — the first 64 KiB and the last 128 KiB — so that they hold for
bytes streamed to S3 with no local copy."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from consumers.errors import ArtifactRejected
from consumers.itero.handler import _is_jpeg, _is_zip
from consumers.storage import Ends, StoredFile


def _staged(data: bytes) -> StoredFile:
    ends = Ends()
    for i in range(0, len(data), 100_000):
        ends.add(data[i : i + 100_000])
    return StoredFile("itero/a/rx/v1/scan_3d/IDE.zip", None, len(data), "", ends.head, ends.tail)


def _zip(size: int, comment: bytes = b"", zip64: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("scan.ply", os.urandom(size))
        with archive.open("more.ply", "w", force_zip64=zip64) as member:
            member.write(b"x" * 10)
        archive.comment = comment
    return out.getvalue()


@pytest.mark.parametrize("data", [_zip(10), _zip(1_000_000), _zip(1_000_000, b"c" * 65_535),
                                  _zip(500_000, zip64=True)],
                         ids=["small", "large", "longest comment", "zip64"])
def test_a_zip_is_recognised_from_the_tail_alone(data: bytes) -> None:
    assert _is_zip(_staged(data)) is None


@pytest.mark.parametrize("data", [b"<html>oops</html>", os.urandom(1_000_000), _zip(1_000_000)[:-30]])
def test_bytes_that_are_no_zip_are_refused(data: bytes) -> None:
    with pytest.raises(ArtifactRejected, match="not a zip"):
        _is_zip(_staged(data))


def test_a_screen_capture_must_start_as_a_jpg() -> None:
    assert _is_jpeg(_staged(b"\xff\xd8\xff\xe0" + os.urandom(300_000))) is None
    with pytest.raises(ArtifactRejected, match="not a JPG"):
        _is_jpeg(_staged(b"\x89PNG\r\n" + os.urandom(300_000)))
