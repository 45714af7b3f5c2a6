from __future__ import annotations

import numpy as np
import pytest

from shipyard.errors import MalformedRequest, ShipyardError
from shipyard.protocol.datatypes import (
    V2_TO_SIGNATURE,
    check_datatype,
    element_size,
    signature_dtype,
    v2_datatype,
    v2_for_signature,
    wire_dtype,
)
from shipyard.schema.signature import DTYPES

FIXED = [
    ("BOOL", np.bool_, 1),
    ("UINT8", np.uint8, 1),
    ("UINT16", np.uint16, 2),
    ("UINT32", np.uint32, 4),
    ("UINT64", np.uint64, 8),
    ("INT8", np.int8, 1),
    ("INT16", np.int16, 2),
    ("INT32", np.int32, 4),
    ("INT64", np.int64, 8),
    ("FP16", np.float16, 2),
    ("FP32", np.float32, 4),
    ("FP64", np.float64, 8),
]


@pytest.mark.parametrize(("datatype", "scalar", "size"), FIXED, ids=[f[0] for f in FIXED])
def test_fixed_size_datatypes_round_trip(datatype: str, scalar: type, size: int) -> None:
    assert check_datatype(datatype, where="input 'x'") == datatype
    assert wire_dtype(datatype).newbyteorder("=") == np.dtype(scalar)
    assert wire_dtype(datatype).byteorder in ("<", "|", "=")
    assert element_size(datatype) == size
    assert v2_datatype(np.dtype(scalar), name="y") == datatype
    assert v2_for_signature(signature_dtype(datatype)) == datatype


def test_every_signature_dtype_has_a_v2_datatype() -> None:
    assert {v2_for_signature(d) for d in DTYPES} <= set(V2_TO_SIGNATURE)


@pytest.mark.parametrize(
    "dtype", [np.dtype(object), np.dtype("U3"), np.dtype("S3")], ids=["object", "unicode", "bytes"]
)
def test_text_outputs_are_bytes(dtype: np.dtype) -> None:
    assert v2_datatype(dtype, name="y") == "BYTES"
    assert element_size("BYTES") is None


@pytest.mark.parametrize(
    ("datatype", "message"),
    [("BF16", "numpy has no bfloat16"), ("FP8", "unknown datatype 'FP8'"), ("fp32", "unknown datatype")],
    ids=["bf16", "unknown", "lowercase"],
)
def test_unsupported_datatypes_are_refused_clearly(datatype: str, message: str) -> None:
    with pytest.raises(MalformedRequest, match=message):
        check_datatype(datatype, where="input 'x'")


def test_output_dtype_v2_cannot_carry() -> None:
    with pytest.raises(ShipyardError, match="complex128"):
        v2_datatype(np.dtype(np.complex128), name="y")
