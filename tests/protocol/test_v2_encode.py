from __future__ import annotations

import numpy as np
import orjson
import pytest

from shipyard.errors import MalformedRequest, SignatureMismatch
from shipyard.protocol.v2 import (
    HEADER_LENGTH,
    RequestedOutput,
    decode_infer_response,
    encode_infer_response,
    encode_model_metadata,
    encode_server_metadata,
)
from shipyard.schema.signature import FieldSpec, Signature

OUTPUTS = [
    ("BOOL", np.array([True, False])),
    ("UINT8", np.array([0, 255], dtype=np.uint8)),
    ("UINT16", np.array([0, 65535], dtype=np.uint16)),
    ("UINT32", np.array([0, 2**32 - 1], dtype=np.uint32)),
    ("UINT64", np.array([0, 2**64 - 1], dtype=np.uint64)),
    ("INT8", np.array([-128, 127], dtype=np.int8)),
    ("INT16", np.array([-1, 2], dtype=np.int16)),
    ("INT32", np.array([[-1, 2], [3, 4]], dtype=np.int32)),
    ("INT64", np.array([-(2**63), 2**63 - 1])),
    ("FP16", np.array([0.5, 1.5], dtype=np.float16)),
    ("FP32", np.array([[0.25, 0.75]], dtype=np.float32)),
    ("FP64", np.array([0.1, 1e300])),
    ("BYTES", np.array(["ünï", "", "b"], dtype=object)),
]


def encode(outputs: dict[str, np.ndarray], **kwargs: object) -> tuple[bytes, dict[str, str]]:
    return encode_infer_response(model_name="m", model_version="3", request_id="r1", outputs=outputs, **kwargs)  # type: ignore[arg-type]


def decode(body: bytes, headers: dict[str, str]) -> dict[str, np.ndarray]:
    length = headers.get(HEADER_LENGTH)
    return decode_infer_response(body, header_length=None if length is None else int(length)).outputs


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize(("datatype", "array"), OUTPUTS, ids=[o[0] for o in OUTPUTS])
def test_every_datatype_round_trips(datatype: str, array: np.ndarray, binary: bool) -> None:
    body, headers = encode({"y": array}, binary_default=binary)
    header = orjson.loads(body[: int(headers[HEADER_LENGTH])] if binary else body)
    assert header["outputs"][0]["datatype"] == datatype
    assert header["outputs"][0]["shape"] == list(array.shape)
    out = decode(body, headers)["y"]
    if datatype == "BYTES":
        expected = [s.encode() for s in array.tolist()] if binary else array.tolist()
        assert out.tolist() == expected
    else:
        np.testing.assert_array_equal(out, array)
        assert out.dtype == array.dtype


def test_json_response_shape_and_headers() -> None:
    body, headers = encode({"y": np.array([[1.0, 2.0]])})
    assert headers == {"Content-Type": "application/json"}
    assert orjson.loads(body) == {
        "model_name": "m",
        "model_version": "3",
        "id": "r1",
        "outputs": [{"name": "y", "datatype": "FP64", "shape": [1, 2], "data": [1.0, 2.0]}],
    }


def test_binary_response_frames_the_header() -> None:
    body, headers = encode({"y": np.array([1.0, 2.0])}, binary_default=True)
    assert headers["Content-Type"] == "application/octet-stream"
    length = int(headers[HEADER_LENGTH])
    header = orjson.loads(body[:length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert "data" not in header["outputs"][0]
    assert body[length:] == np.array([1.0, 2.0], dtype="<f8").tobytes()


def test_per_output_flags_override_the_default_and_pick_the_order() -> None:
    outputs = {"a": np.array([1, 2]), "b": np.array([0.5]), "c": np.array(["x"], dtype=object)}
    requested = (RequestedOutput("c", binary_data=True), RequestedOutput("a", binary_data=False), RequestedOutput("b"))
    body, headers = encode(outputs, requested=requested, binary_default=True)
    header = orjson.loads(body[: int(headers[HEADER_LENGTH])])
    assert [o["name"] for o in header["outputs"]] == ["c", "a", "b"]
    assert "data" in header["outputs"][1]
    assert "parameters" in header["outputs"][0] and "parameters" in header["outputs"][2]
    decoded = decode(body, headers)
    assert decoded["c"].tolist() == [b"x"]
    assert decoded["a"].tolist() == [1, 2]
    assert decoded["b"].tolist() == [0.5]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_strided_and_big_endian_arrays_encode_correctly(binary: bool) -> None:
    strided = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]
    big = np.array([1.5, -2.0], dtype=">f8")
    body, headers = encode({"s": strided, "e": big}, binary_default=binary)
    decoded = decode(body, headers)
    np.testing.assert_array_equal(decoded["s"], strided)
    np.testing.assert_array_equal(decoded["e"], big)


def test_nan_output_is_null_in_json() -> None:
    body, _ = encode({"y": np.array([np.nan, 1.0])})
    assert orjson.loads(body)["outputs"][0]["data"] == [None, 1.0]


def test_unknown_requested_output_is_refused() -> None:
    with pytest.raises(SignatureMismatch, match="no output 'z'"):
        encode({"y": np.ones(1)}, requested=(RequestedOutput("z"),))


def test_non_utf8_bytes_cannot_go_as_json() -> None:
    with pytest.raises(MalformedRequest, match="binary data"):
        encode({"y": np.array([b"\xff"], dtype=object)})
    body, headers = encode({"y": np.array([b"\xff"], dtype=object)}, binary_default=True)
    assert decode(body, headers)["y"].tolist() == [b"\xff"]


def test_request_id_is_optional() -> None:
    body, _ = encode_infer_response(model_name="m", model_version=None, request_id=None, outputs={"y": np.ones(1)})
    assert set(orjson.loads(body)) == {"model_name", "outputs"}


def test_metadata_for_columns_lists_columns_and_the_matrix_form(float_signature: Signature) -> None:
    meta = encode_model_metadata("m", ["1", "2"], "sklearn", float_signature)
    assert meta["inputs"] == [{"name": f"x{i}", "datatype": "FP64", "shape": [-1]} for i in range(3)]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP64", "shape": [-1]}]
    assert meta["parameters"]["matrix_input"]["shape"] == [-1, 3]
    assert meta["parameters"]["matrix_input"]["column_order"] == ["x0", "x1", "x2"]
    assert meta["parameters"]["nullable"] == ["x2"]
    orjson.dumps(meta)


def test_metadata_for_mixed_columns_offers_no_matrix(mixed_signature: Signature) -> None:
    meta = encode_model_metadata("m", ["1"], "sklearn", mixed_signature)
    assert [i["datatype"] for i in meta["inputs"]] == ["FP64", "BYTES", "BOOL"]
    assert "matrix_input" not in meta["parameters"]


def test_metadata_for_tensors_and_without_signature(tensor_signature: Signature) -> None:
    meta = encode_model_metadata("m", ["1"], "onnx", tensor_signature)
    assert meta["inputs"][0] == {"name": "image", "datatype": "FP32", "shape": [-1, 2, 2]}
    assert meta["parameters"] == {"signature_kind": "tensors"}
    bare = encode_model_metadata("m", ["1"], "custom", None)
    assert bare["inputs"] == [] and bare["outputs"] == []


def test_server_metadata_announces_binary_data() -> None:
    meta = encode_server_metadata("shipyard", "0.1.0")
    # The other extensions (statistics, repository index) are the HTTP routes' to prove.
    assert meta["name"] == "shipyard" and meta["version"] == "0.1.0"
    assert "binary_tensor_data" in meta["extensions"]


def test_tensor_signature_declares_output_shapes() -> None:
    signature = Signature(
        kind="tensors", inputs=(FieldSpec("x", "uint8", (-1, 4)),), outputs=(FieldSpec("p", "float16", (-1,)),)
    )
    meta = encode_model_metadata("m", ["1"], "onnx", signature)
    assert meta["inputs"][0]["datatype"] == "UINT8"
    assert meta["outputs"][0]["datatype"] == "FP16"
