"""Test helper (not a test module): image files that lie about their size."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_header(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h pixels (the data are not there): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path
