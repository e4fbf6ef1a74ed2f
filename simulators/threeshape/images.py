"""Small, valid image files made in code: the clinical photos of the simulated cases.

3shape-dental-desktop-pms-integration.txt, "/GetAttachedImage": the server returns the image bytes
(JPEG in the doc's example name) wrapped in XML.
"""

from __future__ import annotations

import struct
import zlib


def png(width: int = 16, height: int = 12, seed: int = 0) -> bytes:
    """An RGB PNG with a gradient (different `seed`, different bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(
            channel
            for x in range(width)
            for channel in ((x * 16 + seed) % 256, (y * 20 + seed) % 256, (x + y + seed * 7) % 256)
        )
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(
        b"IEND", b""
    )


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg(gray: int = 128) -> bytes:
    """A baseline 8×8 grayscale JPEG of one flat `gray` level (only the DC coefficient is coded).

    One component, quantisation all ones, a DC Huffman table holding the one category needed and
    an AC table holding only end-of-block, each as a 1-bit code "0".
    """
    diff = 8 * (gray - 128)  # the DC coefficient of a flat block after level shift
    category = abs(diff).bit_length()
    bits = "0"  # DC category code
    if category:
        value = diff if diff > 0 else diff + (1 << category) - 1
        bits += format(value, f"0{category}b")
    bits += "0"  # AC: end of block
    bits += "1" * (-len(bits) % 8)
    scan = bytearray()
    for i in range(0, len(bits), 8):
        byte = int(bits[i : i + 8], 2)
        scan.append(byte)
        if byte == 0xFF:
            scan.append(0x00)  # byte stuffing
    counts_one_code = bytes([1] + [0] * 15)
    return b"".join((
        b"\xff\xd8",
        _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
        _segment(0xDB, b"\x00" + b"\x01" * 64),
        _segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"),
        _segment(0xC4, b"\x00" + counts_one_code + bytes([category])),
        _segment(0xC4, b"\x10" + counts_one_code + b"\x00"),
        _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
        bytes(scan),
        b"\xff\xd9",
    ))
