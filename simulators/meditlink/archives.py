"""Real 7-Zip archives for `GET /v1/files/{uuid}` downloads and their `items` list
(meditlink-openapi.txt §3.4.1; FAQ "Can I use other file compressors other than 7-zip?").
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
from dataclasses import dataclass

import py7zr

_FINITE = bytes(b & 0xBF for b in range(256))  # clear the top exponent bit
HOSTILE_MEMBERS = ("../evil.txt", "/tmp/scanbridge-evil-absolute.txt")  # noqa: S108 - the point


@dataclass(frozen=True)
class BuiltArchive:
    data: bytes
    items: list[dict[str, object]]  # name, size, hashValue (hex MD5), hashAlgorithm — as §3.4.1
    download_name: str


def member_payload(name: str, size: int, seed: str) -> bytes:
    """Deterministic content of about `size` bytes shaped like the member's format."""
    rng = random.Random(seed)
    if name.endswith(".stl"):  # binary STL: 80-byte header, triangle count, 50 bytes per triangle
        count = max(1, (size - 84) // 50)
        floats = bytearray(rng.randbytes(48 * count))
        floats[3::4] = floats[3::4].translate(_FINITE)  # every float32 finite, |x| < 4
        triangles = b"".join(floats[i : i + 48] + b"\0\0" for i in range(0, len(floats), 48))
        return b"scanbridge simulator".ljust(80, b" ") + struct.pack("<I", count) + triangles
    if name.endswith(".obj"):
        lines, total = [], 0
        while total < size:
            line = f"v {rng.uniform(-30, 30):.4f} {rng.uniform(-30, 30):.4f} {rng.uniform(-30, 30):.4f}\n"
            lines.append(line)
            total += len(line)
        return "".join(lines).encode()
    if name.endswith(".ply"):
        count = max(1, size // 12)
        header = (
            "ply\nformat binary_little_endian 1.0\n"
            f"element vertex {count}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
        ).encode()
        return header + rng.randbytes(12 * count)
    return rng.randbytes(size)


def build_archive(members: list[tuple[str, bytes]], *, compress: bool = True) -> bytes:
    """A 7z holding `members` (name, bytes) in order; names are written verbatim."""
    buffer = io.BytesIO()
    filters = [{"id": py7zr.FILTER_LZMA2, "preset": 1}] if compress else [{"id": py7zr.FILTER_COPY}]
    with py7zr.SevenZipFile(buffer, "w", filters=filters) as archive:
        for name, data in members:
            # The public writestr() refuses `..` and absolute names; the hostile archive needs them.
            archive._writestr(data, name)
    return buffer.getvalue()


def items_of(members: list[tuple[str, bytes]]) -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "size": len(data),
            "hashValue": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "hashAlgorithm": "MD5",
        }
        for name, data in members
    ]


def converted_name(file_name: str, convert: str | None) -> str:
    """`maxillary.meditMesh` converted to stl is `maxillary.stl`; no conversion keeps the name."""
    if convert is None:
        return file_name
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    return f"{stem}.{convert}"


def archive_for(
    file_uuid: str,
    file_name: str,
    size: int,
    convert: str | None,
    *,
    hostile: bool = False,
    compress: bool = True,
) -> BuiltArchive:
    """The archive Medit would serve for one case file (converted or original)."""
    name = converted_name(file_name, convert)
    members = [(name, member_payload(name, size, f"{file_uuid}:{convert}"))]
    if hostile:
        members += [(member, b"this file escaped its folder\n") for member in HOSTILE_MEMBERS]
    suffix = f".{convert}.7z" if convert else ".7z"
    return BuiltArchive(build_archive(members, compress=compress), items_of(members), f"{file_uuid}{suffix}")
