"""A stable identity for a training data set: sha256 of a canonical byte encoding.

The encoding is defined here, byte for byte, so the same data gives the same digest on
any platform, Python or numpy version, and any change that matters (a value, a column
name, a column's order or dtype, a row) gives a different one::

    "shipyard-fingerprint/1\\0"  u64 columns  u64 rows
    per column:  lp(name)  lp(dtype)
    per column:  the values
        bool                     one byte each (0/1)
        int/uint                 little-endian at the column's width
        float                    little-endian IEEE at the column's width; every NaN is
                                 the one quiet NaN; -0.0 stays -0.0
        datetime64/timedelta64   little-endian int64 in the column's unit (NaT is int64 min)
        strings, bytes, objects  per value a tag byte, then: missing (0) nothing;
                                 str (1) lp(utf-8); bytes (2) lp(bytes); bool (3) one byte;
                                 int (4) lp(decimal); float (5) f64; datetime/date (6)
                                 lp(isoformat); other numbers (7) lp(str)

    lp(x) = u64 length, then the bytes; u64 is little-endian.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import logging
import struct
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.lineage.columns import Column, is_missing, table_columns
from shipyard.registry.types import DataFingerprint

logger = logging.getLogger(__name__)

MAGIC = b"shipyard-fingerprint/1\x00"
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
# The canonical quiet NaN at each float width (sign 0, top mantissa bit only).
_CANONICAL_NAN = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}
# Object columns are encoded into a buffer flushed to the hash at about this size.
_FLUSH_BYTES = 1 << 20


def _lp(data: bytes) -> bytes:
    return _U64.pack(len(data)) + data


def _encode_value(value: object, column: str) -> bytes:
    if is_missing(value):
        return b"\x00"
    if isinstance(value, str):
        return b"\x01" + _lp(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes | bytearray | memoryview):
        return b"\x02" + _lp(bytes(value))
    if isinstance(value, bool | np.bool_):
        return b"\x03" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | np.integer):
        return b"\x04" + _lp(str(int(value)).encode("ascii"))
    if isinstance(value, float | np.floating):
        return b"\x05" + _F64.pack(float(value))
    if isinstance(value, dt.date | dt.time):  # datetime and pandas.Timestamp included
        return b"\x06" + _lp(value.isoformat().encode("utf-8"))
    if isinstance(value, decimal.Decimal):
        return b"\x07" + _lp(str(value).encode("ascii"))
    raise InvalidRequest(
        f"column {column!r} holds a value of type {type(value).__name__}, which cannot be fingerprinted",
        hint="convert the column to numbers or strings first",
    )


def _hash_numeric(digest: Any, values: np.ndarray[Any, Any]) -> None:
    kind = values.dtype.kind
    if kind == "b":
        digest.update(values.astype(np.uint8).tobytes())
    elif kind in "iu":
        digest.update(values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes())
    elif kind == "f":
        width = values.dtype.itemsize if values.dtype.itemsize in _CANONICAL_NAN else 8
        floats = values.astype(f"<f{width}")
        bits = floats.view(f"<u{width}").copy()
        bits[np.isnan(floats)] = _CANONICAL_NAN[width]
        digest.update(bits.tobytes())
    else:  # "M", "m": the unit is part of the dtype label, so the raw int64 is enough
        digest.update(values.view(np.int64).astype("<i8", copy=False).tobytes())


def _hash_objects(digest: Any, column: Column) -> None:
    buffer = bytearray()
    for value in column.values.tolist():
        buffer += _encode_value(value, column.name)
        if len(buffer) >= _FLUSH_BYTES:
            digest.update(buffer)
            buffer.clear()
    digest.update(buffer)


def fingerprint(data: Any, target: Any = None, *, target_name: str = "target") -> DataFingerprint:
    """The fingerprint of ``data`` (and ``target``, appended as the last column ``target_name``).

    ``data`` is a pandas DataFrame, a 2-D numpy array (columns ``x0, x1, ...``) or a mapping
    of column name to 1-D values.
    """
    columns = table_columns(data, target, target_name=target_name)
    rows = len(columns[0].values)
    digest = hashlib.sha256(MAGIC)
    digest.update(_U64.pack(len(columns)) + _U64.pack(rows))
    for column in columns:
        digest.update(_lp(column.name.encode("utf-8", "surrogatepass")) + _lp(column.dtype.encode("utf-8")))
    for column in columns:
        if column.values.dtype.kind in "biufMm":
            _hash_numeric(digest, column.values)
        else:
            _hash_objects(digest, column)
    result = DataFingerprint(
        sha256=digest.hexdigest(),
        rows=rows,
        columns=tuple((c.name, c.dtype) for c in columns),
    )
    logger.debug("fingerprinted %d rows x %d columns: %s", rows, len(columns), result.sha256)
    return result
