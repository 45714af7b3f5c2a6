"""Open Inference Protocol (V2) tensor datatypes and how they map to numpy and signatures.

The V2 datatype names are the wire vocabulary (``FP32``, ``BYTES``...); signatures use
numpy-style names (``float32``, ``string``...). Binary tensor data is little-endian, so the
numpy dtypes used to read and write it are explicitly little-endian.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest, ShipyardError

V2_TO_SIGNATURE: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "bytes",
}
"""Every V2 datatype Shipyard carries, to the signature dtype name holding it."""

SIGNATURE_TO_V2: dict[str, str] = {v: k for k, v in V2_TO_SIGNATURE.items()} | {"string": "BYTES"}

# Triton lists BF16, but numpy has no bfloat16; refusing by name beats "unknown datatype".
_UNSUPPORTED = {"BF16": "numpy has no bfloat16 type; send FP32 (or FP16) instead"}

_WIRE_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(sig).newbyteorder("<") for name, sig in V2_TO_SIGNATURE.items() if name != "BYTES"
}


def check_datatype(datatype: str, *, where: str) -> str:
    """``datatype`` itself if Shipyard can carry it; MalformedRequest naming ``where`` if not."""
    if datatype in V2_TO_SIGNATURE:
        return datatype
    if datatype in _UNSUPPORTED:
        raise MalformedRequest(f"{where}: datatype {datatype} is not supported: {_UNSUPPORTED[datatype]}")
    raise MalformedRequest(
        f"{where}: unknown datatype {datatype!r}",
        hint=f"use one of {', '.join(V2_TO_SIGNATURE)}",
    )


def signature_dtype(datatype: str) -> str:
    """The signature dtype name for a (checked) V2 datatype."""
    return V2_TO_SIGNATURE[datatype]


def wire_dtype(datatype: str) -> np.dtype[Any]:
    """The little-endian numpy dtype binary data of a fixed-size V2 datatype is read with."""
    return _WIRE_DTYPES[datatype]


def element_size(datatype: str) -> int | None:
    """Bytes per element in binary form; None for BYTES (length-prefixed, variable)."""
    dtype = _WIRE_DTYPES.get(datatype)
    return None if dtype is None else dtype.itemsize


_V2_BY_DTYPE: dict[np.dtype[Any], str] = {}


def v2_datatype(dtype: np.dtype[Any], *, name: str) -> str:
    """The V2 datatype that carries an output array of ``dtype``."""
    # Asked for every output of every response: numpy builds ``dtype.name`` anew each time.
    cached = _V2_BY_DTYPE.get(dtype)
    if cached is not None:
        return cached
    if dtype.kind in ("O", "U", "S"):
        datatype: str | None = "BYTES"
    else:
        datatype = SIGNATURE_TO_V2.get(dtype.name)
    if datatype is None:
        raise ShipyardError(f"output {name!r} has dtype {dtype.name}, which the V2 protocol cannot carry")
    _V2_BY_DTYPE[dtype] = datatype
    return datatype


def v2_for_signature(dtype: str) -> str:
    """The V2 datatype announced in metadata for a signature dtype name."""
    return SIGNATURE_TO_V2[dtype]
