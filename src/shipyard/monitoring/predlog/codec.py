"""The prediction log's frame format.

A log file (segment or spill file) is the 8-byte magic ``b"SHIPLOG1"`` followed by frames:
``u32 LE payload length | u32 LE zlib.crc32(payload) | payload``. A frame whose length runs
past the end of the data or whose CRC does not match ends the valid part: what follows is a
torn tail (a write cut short by a crash) and is ignored by readers and cut by recovery.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

MAGIC = b"SHIPLOG1"
HEADER = struct.Struct("<II")
MAX_PAYLOAD = 256 * 1024**2
"""A length above this is treated as corruption, not as a frame to read."""


def encode_frame(payload: bytes) -> bytes:
    """One frame holding ``payload``."""
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _frames(data: bytes | memoryview, start: int) -> Iterator[tuple[int, bytes]]:
    view = memoryview(data)
    end = len(view)
    offset = start
    while offset + HEADER.size <= end:
        length, crc = HEADER.unpack_from(view, offset)
        body = offset + HEADER.size
        if length > MAX_PAYLOAD or body + length > end:
            return
        payload = bytes(view[body : body + length])
        if zlib.crc32(payload) != crc:
            return
        yield offset, payload
        offset = body + length


def iter_frames(source: str | os.PathLike[str] | bytes, start: int = len(MAGIC)) -> Iterator[tuple[int, bytes]]:
    """``(offset, payload)`` of each valid frame of a log file (a path) or of its bytes, from
    ``start``; stops at the first torn or corrupt frame. Data not starting with the magic
    (when ``start`` is past it) holds no frames."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if start >= len(MAGIC) and data[: len(MAGIC)] != MAGIC:
        return
    yield from _frames(data, start)


def valid_length(path: str | os.PathLike[str]) -> int:
    """The length of the valid part of a log file: the magic plus every frame up to the first
    torn or corrupt one. 0 when the file does not even start with the magic."""
    data = Path(path).read_bytes()
    return valid_length_of(data)


def valid_length_of(data: bytes) -> int:
    """``valid_length`` of a file's bytes."""
    if data[: len(MAGIC)] != MAGIC:
        return 0
    end = len(MAGIC)
    for offset, payload in _frames(data, len(MAGIC)):
        end = offset + HEADER.size + len(payload)
    return end
