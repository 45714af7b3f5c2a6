"""The binary tensor data extension: tensors as raw bytes after the JSON header.

Layout (Triton ``extension_binary_data.md``): little-endian, row-major, no padding; BOOL is
one byte (0 or 1); each BYTES element is a 4-byte little-endian unsigned length followed by
that many bytes. Fixed-size tensors are read with ``np.frombuffer``: a view of the request
body, no copy (so the arrays are read-only). Every size is checked against the bytes that
are actually there before anything is allocated.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest
from shipyard.protocol.datatypes import element_size, wire_dtype

_LENGTH = struct.Struct("<I")


def read_tensor(
    buffer: memoryview, offset: int, size: int, *, datatype: str, shape: tuple[int, ...], where: str
) -> np.ndarray:
    """The tensor stored in ``buffer[offset:offset + size]``."""
    left = len(buffer) - offset
    if size > left:
        raise MalformedRequest(f"{where}: binary_data_size {size} exceeds the {left} bytes of binary data left")
    count = math.prod(shape)
    itemsize = element_size(datatype)
    if itemsize is None:
        return _read_bytes_elements(buffer, offset, size, count=count, shape=shape, where=where)
    if count * itemsize != size:
        raise MalformedRequest(
            f"{where}: shape {list(shape)} of {datatype} needs {count * itemsize} bytes, binary_data_size is {size}"
        )
    dtype = wire_dtype(datatype)
    if count == 0:
        return np.empty(shape, dtype=dtype)
    array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    if datatype == "BOOL" and int(array.view(np.uint8).max()) > 1:
        raise MalformedRequest(f"{where}: BOOL binary data holds bytes other than 0 and 1")
    return array.reshape(shape)


def _read_bytes_elements(
    buffer: memoryview, offset: int, size: int, *, count: int, shape: tuple[int, ...], where: str
) -> np.ndarray:
    # Each element needs at least its 4-byte length: this bounds the element list we build.
    if count * _LENGTH.size > size:
        raise MalformedRequest(
            f"{where}: shape {list(shape)} of BYTES needs at least {count * _LENGTH.size} bytes, "
            f"binary_data_size is {size}"
        )
    end = offset + size
    position = offset
    elements: list[bytes] = []
    for index in range(count):
        if position + _LENGTH.size > end:
            raise MalformedRequest(f"{where}: BYTES element {index} is cut off")
        (length,) = _LENGTH.unpack_from(buffer, position)
        position += _LENGTH.size
        if length > end - position:
            raise MalformedRequest(f"{where}: BYTES element {index} claims {length} bytes, {end - position} are left")
        elements.append(bytes(buffer[position : position + length]))
        position += length
    if position != end:
        raise MalformedRequest(f"{where}: {end - position} bytes left over after {count} BYTES elements")
    out = np.empty(count, dtype=object)
    out[:] = elements
    return out.reshape(shape)


def tensor_bytes(array: np.ndarray, *, datatype: str) -> bytes | memoryview:
    """``array`` in binary wire form (a view of it where the layout already matches)."""
    if datatype == "BYTES":
        return encode_bytes_elements(array.ravel().tolist())
    wire = np.ascontiguousarray(array, dtype=wire_dtype(datatype))
    return wire.reshape(-1).data.cast("B") if wire.size else b""


def encode_bytes_elements(values: list[Any]) -> bytes:
    """Length-prefixed elements; ``str`` is sent as UTF-8, anything else as its ``str()``."""
    parts: list[bytes] = []
    for value in values:
        data = value if isinstance(value, bytes) else (value if isinstance(value, str) else str(value)).encode("utf-8")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)
