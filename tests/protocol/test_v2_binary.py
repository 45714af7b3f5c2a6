from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from shipyard.errors import MalformedRequest
from shipyard.protocol.v2 import decode_infer_request
from shipyard.schema.signature import Signature
from shipyard.schema.validate import validate_inputs


def binary_body(header: dict[str, Any], *chunks: bytes) -> tuple[bytes, int]:
    """A binary-extension body: the JSON header, then the tensors' bytes in order."""
    head = orjson.dumps(header)
    return head + b"".join(chunks), len(head)


def length_prefixed(*elements: bytes) -> bytes:
    return b"".join(len(e).to_bytes(4, "little") + e for e in elements)


FIXED = [
    ("BOOL", np.array([True, False, True])),
    ("UINT8", np.array([0, 255], dtype=np.uint8)),
    ("UINT16", np.array([1, 65535], dtype=np.uint16)),
    ("UINT32", np.array([1, 2**32 - 1], dtype=np.uint32)),
    ("UINT64", np.array([1, 2**64 - 1], dtype=np.uint64)),
    ("INT8", np.array([-128, 127], dtype=np.int8)),
    ("INT16", np.array([-5, 300], dtype=np.int16)),
    ("INT32", np.array([[-5, 7], [8, 9]], dtype=np.int32)),
    ("INT64", np.array([-(2**63), 2**63 - 1], dtype=np.int64)),
    ("FP16", np.array([0.5, -1.5], dtype=np.float16)),
    ("FP32", np.array([[1.5, 2.5, 3.5]], dtype=np.float32)),
    ("FP64", np.array([1e-300, np.pi])),
]


def binary_input(name: str, datatype: str, shape: list[int], size: int) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}


@pytest.mark.parametrize(("datatype", "array"), FIXED, ids=[f[0] for f in FIXED])
def test_fixed_size_datatypes_are_read_in_place(datatype: str, array: np.ndarray) -> None:
    data = array.astype(array.dtype.newbyteorder("<")).tobytes()
    body, length = binary_body({"inputs": [binary_input("x", datatype, list(array.shape), len(data))]}, data)
    decoded = decode_infer_request(body, content_type="application/octet-stream", header_length=length)
    out = decoded.inputs.items[0].array
    np.testing.assert_array_equal(out, array)
    assert out.shape == array.shape
    # Zero copy: the array is a read-only view of the request body.
    assert not out.flags.writeable
    assert np.shares_memory(out, np.frombuffer(body, dtype=np.uint8))


def test_bytes_elements_are_length_prefixed() -> None:
    data = length_prefixed(b"abc", b"", "zürich".encode())
    body, length = binary_body({"inputs": [binary_input("s", "BYTES", [3], len(data))]}, data)
    out = decode_infer_request(body, content_type=None, header_length=length).inputs.items[0]
    assert out.array.tolist() == [b"abc", b"", "zürich".encode()]
    assert out.declared_dtype == "bytes"


def test_json_and_binary_inputs_mix_in_order(mixed_signature: Signature) -> None:
    ages = np.array([30.5, np.nan]).tobytes()
    cities = length_prefixed(b"Oslo", b"Lima")
    header = {
        "inputs": [
            binary_input("age", "FP64", [2], len(ages)),
            {"name": "member", "datatype": "BOOL", "shape": [2], "data": [True, False]},
            binary_input("city", "BYTES", [2], len(cities)),
        ]
    }
    body, length = binary_body(header, ages, cities)
    batch = validate_inputs(
        mixed_signature, decode_infer_request(body, content_type=None, header_length=length).inputs, max_rows=4
    )
    assert batch.column("city").tolist() == ["Oslo", "Lima"]
    assert np.isnan(batch.column("age")[1])


def test_binary_matrix_validates_without_copy(float_signature: Signature) -> None:
    data = np.arange(6, dtype=np.float64).tobytes()
    body, length = binary_body({"inputs": [binary_input("input-0", "FP64", [2, 3], len(data))]}, data)
    batch = validate_inputs(
        float_signature, decode_infer_request(body, content_type=None, header_length=length).inputs, max_rows=4
    )
    assert np.shares_memory(batch.as_matrix(), np.frombuffer(body, dtype=np.uint8))


def test_header_only_with_header_length_is_fine() -> None:
    body, length = binary_body({"inputs": [{"name": "x", "datatype": "INT8", "shape": [1], "data": [1]}]})
    assert decode_infer_request(body, content_type=None, header_length=length).inputs.items[0].array.tolist() == [1]


F8 = np.ones(2).tobytes()
BAD: list[tuple[str, dict[str, Any], bytes, int | None, str]] = [
    ("size-beyond-body", {"inputs": [binary_input("x", "FP64", [2], 1 << 40)]}, F8, None, "exceeds the 16 bytes"),
    (
        "size-not-shape",
        {"inputs": [binary_input("x", "FP64", [3], 16)]},
        F8,
        None,
        "needs 24 bytes, binary_data_size is 16",
    ),
    ("left-over-bytes", {"inputs": [binary_input("x", "FP64", [1], 8)]}, F8, None, "8 bytes of binary data follow"),
    ("negative-size", {"inputs": [binary_input("x", "FP64", [2], -16)]}, F8, None, "non-negative integer"),
    ("size-as-string", {"inputs": [binary_input("x", "FP64", [2], "16")]}, F8, None, "non-negative integer"),  # type: ignore[arg-type]
    (
        "data-and-size",
        {"inputs": [{**binary_input("x", "FP64", [2], 16), "data": [1, 2]}]},
        F8,
        None,
        "both 'data' and parameters.binary_data_size",
    ),
    ("bool-not-0-or-1", {"inputs": [binary_input("x", "BOOL", [2], 2)]}, b"\x01\x02", None, "other than 0 and 1"),
    (
        "bytes-count-beyond-size",
        {"inputs": [binary_input("s", "BYTES", [5], 8)]},
        length_prefixed(b"", b""),
        None,
        "needs at least 20 bytes",
    ),
    (
        "bytes-element-too-long",
        {"inputs": [binary_input("s", "BYTES", [1], 6)]},
        (100).to_bytes(4, "little") + b"ab",
        None,
        "claims 100 bytes, 2 are left",
    ),
    (
        "bytes-cut-off",
        {"inputs": [binary_input("s", "BYTES", [2], 8)]},
        length_prefixed(b"ab") + b"\x01\x00",
        None,
        "element 1 is cut off",
    ),
    (
        "bytes-left-over",
        {"inputs": [binary_input("s", "BYTES", [1], 7)]},
        length_prefixed(b"ab") + b"c",
        None,
        "1 bytes left over after 1 BYTES",
    ),
    (
        "header-length-beyond-body",
        {"inputs": [binary_input("x", "FP64", [2], 16)]},
        F8,
        10_000,
        "Inference-Header-Content-Length",
    ),
    ("huge-empty-shape", {"inputs": [binary_input("x", "FP64", [0, 2**40, 2**40], 0)]}, b"", None, "is too large"),
    ("header-length-zero", {"inputs": [binary_input("x", "FP64", [2], 16)]}, F8, 0, "Inference-Header-Content-Length"),
    ("header-length-cuts-json", {"inputs": [binary_input("x", "FP64", [2], 16)]}, F8, 5, "not valid JSON"),
]


@pytest.mark.parametrize(("header", "data", "header_length", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_binary_framing_is_refused(
    header: dict[str, Any], data: bytes, header_length: int | None, message: str
) -> None:
    body, length = binary_body(header, data)
    with pytest.raises(MalformedRequest) as caught:
        decode_infer_request(body, content_type=None, header_length=length if header_length is None else header_length)
    assert message in str(caught.value)
