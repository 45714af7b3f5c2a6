from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from shipyard.errors import MalformedRequest, SignatureMismatch, UnsupportedMediaType
from shipyard.protocol.v2 import RequestedOutput, decode_infer_request
from shipyard.schema.signature import Signature
from shipyard.schema.validate import validate_inputs


def request(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def tensor(name: str, datatype: str, shape: list[int], data: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


JSON_TYPES = [
    ("BOOL", [True, False], np.bool_, "bool"),
    ("UINT8", [0, 255], np.uint8, "uint8"),
    ("UINT16", [0, 65535], np.uint16, "uint16"),
    ("UINT32", [0, 2**32 - 1], np.uint32, "uint32"),
    ("UINT64", [0, 2**64 - 1], np.uint64, "uint64"),
    ("INT8", [-128, 127], np.int8, "int8"),
    ("INT16", [-(2**15), 2**15 - 1], np.int16, "int16"),
    ("INT32", [-(2**31), 2**31 - 1], np.int32, "int32"),
    ("INT64", [-(2**63), 2**63 - 1], np.int64, "int64"),
    ("FP16", [0.5, -2], np.float16, "float16"),
    ("FP32", [1.5, 2], np.float32, "float32"),
    ("FP64", [1.25, None], np.float64, "float64"),
    ("BYTES", ["héllo", ""], np.object_, "string"),
]


@pytest.mark.parametrize(("datatype", "data", "dtype", "declared"), JSON_TYPES, ids=[t[0] for t in JSON_TYPES])
def test_json_data_of_every_datatype(datatype: str, data: list[Any], dtype: type, declared: str) -> None:
    decoded = decode_infer_request(request(tensor("x", datatype, [2], data)), content_type=None, header_length=None)
    item = decoded.inputs.items[0]
    assert item.name == "x"
    assert item.array.dtype == np.dtype(dtype)
    assert item.declared_dtype == declared
    expected = [np.nan if v is None else v for v in data]
    np.testing.assert_array_equal(item.array, np.array(expected, dtype=dtype))


@pytest.mark.parametrize("data", [[1, 2, 3, 4, 5, 6], [[1, 2, 3], [4, 5, 6]]], ids=["flat", "nested"])
def test_flat_and_nested_data_take_the_declared_shape(data: list[Any]) -> None:
    decoded = decode_infer_request(request(tensor("x", "FP32", [2, 3], data)), content_type=None, header_length=None)
    assert decoded.inputs.items[0].array.shape == (2, 3)
    assert decoded.inputs.items[0].array[1, 0] == 4.0


def test_request_fields_are_carried() -> None:
    body = request(
        tensor("x", "INT64", [1], [1]),
        id="req-7",
        parameters={"binary_data_output": True, "custom": 3},
        outputs=[{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    )
    decoded = decode_infer_request(body, content_type="application/json; charset=utf-8", header_length=None)
    assert decoded.id == "req-7"
    assert decoded.binary_data_output is True
    assert decoded.parameters["custom"] == 3
    assert decoded.inputs.parameters["custom"] == 3
    assert decoded.outputs == (RequestedOutput("a"), RequestedOutput("b", False, {"binary_data": False}))


def test_model_name_from_the_extension_example_is_tolerated() -> None:
    body = request(tensor("x", "INT64", [1], [1]), model_name="m")
    assert decode_infer_request(body, content_type=None, header_length=None).id is None


def test_columns_round_trip_through_validation(float_signature: Signature) -> None:
    body = request(
        tensor("x1", "FP64", [2], [2.0, 5.0]),
        tensor("x0", "INT32", [2, 1], [[1], [4]]),
        tensor("x2", "FP32", [2], [3.0, None]),
    )
    batch = validate_inputs(
        float_signature, decode_infer_request(body, content_type=None, header_length=None).inputs, max_rows=8
    )
    matrix = batch.as_matrix()
    assert matrix.flags.c_contiguous and matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix[:, :2], [[1, 2], [4, 5]])
    assert np.isnan(matrix[1, 2])


def test_mixed_round_trip_through_validation(mixed_signature: Signature) -> None:
    body = request(
        tensor("age", "FP64", [2], [30.5, 41]),
        tensor("city", "BYTES", [2], ["Oslo", "Lima"]),
        tensor("member", "BOOL", [2], [True, False]),
    )
    batch = validate_inputs(
        mixed_signature, decode_infer_request(body, content_type=None, header_length=None).inputs, max_rows=8
    )
    assert batch.as_frame()["city"].tolist() == ["Oslo", "Lima"]


def test_tensors_round_trip_through_validation(tensor_signature: Signature) -> None:
    body = request(
        tensor("image", "FP32", [1, 2, 2], [[[1, 2], [3, 4]]]),
        tensor("label", "BYTES", [1], ["cat"]),
    )
    batch = validate_inputs(
        tensor_signature, decode_infer_request(body, content_type=None, header_length=None).inputs, max_rows=8
    )
    assert batch.tensors["image"].dtype == np.float32
    assert batch.tensors["label"].tolist() == ["cat"]


def test_json_bool_into_number_column_is_a_signature_mismatch(float_signature: Signature) -> None:
    body = request(tensor("input-0", "BOOL", [1, 3], [True, False, True]))
    with pytest.raises(SignatureMismatch, match="expected float64, got bool"):
        validate_inputs(
            float_signature, decode_infer_request(body, content_type=None, header_length=None).inputs, max_rows=8
        )


X = {"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]}
BAD: list[tuple[str, bytes, str]] = [
    ("not-json", b'{"inputs": [', "not valid JSON"),
    ("empty-body", b"", "not valid JSON"),
    ("top-level-array", b"[1, 2]", "must be a JSON object, not array"),
    ("no-inputs", orjson.dumps({"id": "1"}), "non-empty 'inputs'"),
    ("empty-inputs", request(), "non-empty 'inputs'"),
    ("inputs-not-array", orjson.dumps({"inputs": {"x": 1}}), "non-empty 'inputs'"),
    ("unknown-top-level", request(X, input=[]), "unknown field(s) 'input'"),
    ("unknown-input-field", request({**X, "dtype": "FP32"}), "unknown field(s) 'dtype' in input 'x'"),
    ("id-not-string", request(X, id=7), "'id' must be a string"),
    ("parameters-not-object", request(X, parameters=[1]), "'parameters'"),
    ("binary-output-not-bool", request(X, parameters={"binary_data_output": "yes"}), "binary_data_output"),
    ("input-not-object", request(3), "each input must be an object"),
    ("input-without-name", request({"datatype": "FP32", "shape": [1], "data": [1]}), "string 'name'"),
    ("missing-shape", request({"name": "x", "datatype": "FP32", "data": [1]}), "'shape' must be an array of integers"),
    ("shape-of-floats", request({**X, "shape": [2.0]}), "'shape' must be an array of integers"),
    ("shape-of-bools", request({**X, "shape": [True]}), "'shape' must be an array of integers"),
    ("negative-shape", request({**X, "shape": [-1]}), "negative dimension"),
    ("huge-empty-shape", request({**X, "shape": [0, 2**40, 2**40], "data": []}), "is too large"),
    ("missing-datatype", request({"name": "x", "shape": [1], "data": [1]}), "string 'datatype'"),
    ("unknown-datatype", request({**X, "datatype": "FLOAT"}), "unknown datatype 'FLOAT'"),
    ("bf16", request({**X, "datatype": "BF16"}), "bfloat16"),
    ("missing-data", request({"name": "x", "datatype": "FP32", "shape": [1]}), "neither 'data'"),
    ("data-not-array", request({**X, "data": 1}), "data must be an array"),
    ("too-few-values", request({**X, "shape": [3]}), "shape [3] needs 3 values, data holds 2"),
    ("too-many-values", request({**X, "shape": [1]}), "needs 1 values, data holds 2"),
    ("nested-shape-mismatch", request({**X, "shape": [3, 2], "data": [[1, 2, 3], [4, 5, 6]]}), "does not match shape"),
    ("ragged-data", request({**X, "shape": [2, 2], "data": [[1, 2], [3]]}), "ragged"),
    ("string-in-fp32", request({**X, "data": [1, "2"]}), "datatype FP32 but data holds string"),
    ("bool-in-fp64", request({**X, "datatype": "FP64", "data": [1.0, True]}), "datatype FP64 but data holds bool"),
    ("float-in-int32", request({**X, "datatype": "INT32", "data": [1, 2.5]}), "datatype INT32 but data holds float"),
    ("null-in-int32", request({**X, "datatype": "INT32", "data": [1, None]}), "datatype INT32 but data holds null"),
    ("int-out-of-range", request({**X, "datatype": "INT8", "data": [1, 128]}), "outside the range of INT8"),
    ("negative-unsigned", request({**X, "datatype": "UINT8", "data": [1, -1]}), "outside the range of UINT8"),
    (
        "int-beyond-64-bits",
        b'{"inputs": [{"name": "x", "datatype": "UINT64", "shape": [1], "data": [18446744073709551616]}]}',
        "datatype UINT64 but data holds float",
    ),
    ("json-infinity", b'{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [1e400]}]}', "infinity"),
    ("int-in-bool", request({**X, "datatype": "BOOL", "data": [1, 0]}), "datatype BOOL but data holds int"),
    ("number-in-bytes", request({**X, "datatype": "BYTES", "data": ["a", 1]}), "datatype BYTES but data holds int"),
    ("duplicate-input", request(X, X), "input 'x' is given twice"),
    ("outputs-not-array", request(X, outputs={"name": "y"}), "'outputs' must be an array"),
    ("output-without-name", request(X, outputs=[{}]), "string 'name'"),
    ("output-unknown-field", request(X, outputs=[{"name": "y", "binary": True}]), "unknown field(s) 'binary'"),
    ("output-binary-not-bool", request(X, outputs=[{"name": "y", "parameters": {"binary_data": 1}}]), "binary_data"),
    ("output-twice", request(X, outputs=[{"name": "y"}, {"name": "y"}]), "requested twice"),
    (
        "binary-size-without-header",
        request({"name": "x", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}),
        "no binary section",
    ),
]


@pytest.mark.parametrize(("body", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_requests_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(MalformedRequest) as caught:
        decode_infer_request(body, content_type=None, header_length=None)
    assert message in str(caught.value)


@pytest.mark.parametrize("content_type", [None, "application/json", "application/octet-stream", "Application/JSON"])
def test_accepted_content_types(content_type: str | None) -> None:
    assert decode_infer_request(request(X), content_type=content_type, header_length=None).inputs.items


def test_csv_content_type_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="text/csv"):
        decode_infer_request(request(X), content_type="text/csv", header_length=None)
