"""Real zip files of a chosen size for the simulated assets (Download Scan, "Downloaded Artifacts")."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

CHUNK = 1024 * 1024


def _fill(handle: zipfile.ZipFile, name: str, size: int, rng: random.Random) -> None:
    with handle.open(name, "w", force_zip64=size > 2**31) as member:
        left = size
        while left > 0:
            n = min(CHUNK, left)
            member.write(rng.randbytes(n))
            left -= n


def make_asset_zip(path: Path, asset: str, size: int, seed: str) -> Path:
    """Write a zip for `asset` of about `size` bytes; same seed → same bytes."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as handle:
        if asset == "IDE":
            handle.writestr("Rx.html", "<html><body>Rx</body></html>")
            handle.writestr("metadata_v50.xml", "<?xml version='1.0'?><Order/>")
            half = max(1, size // 2)
            _fill(handle, "UpperJaw.stl", half, rng)
            _fill(handle, "LowerJaw.stl", max(1, size - half), rng)
        elif asset == "IMAGE_GALLERY":
            for i in range(6):
                _fill(handle, f"thumbnail_{i + 1}.jpg", max(1, size // 6), rng)
        else:
            _fill(handle, "screen_capture_1.jpg", max(1, size), rng)
    temp.replace(path)
    return path
