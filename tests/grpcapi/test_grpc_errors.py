"""Bad inputs over gRPC: the status code the error's class names, and HTTP's message for it."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_registry import metadata, numeric_frame, typed_request
from tritonclient.grpc import service_pb2 as pb

from live_server import LiveServer


def refused(stub, request: pb.ModelInferRequest, headers: dict[str, str]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, metadata=metadata(headers))
    return caught.value


def trailer(error: grpc.RpcError, name: str) -> str | None:
    return dict(error.trailing_metadata() or ()).get(name)


def http_error(server: LiveServer, model: str, body: dict[str, object]) -> dict[str, object]:
    with server.client() as http:
        response = http.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code >= 400
    return response.json()


def json_body(frame) -> dict[str, object]:
    return {
        "inputs": [
            {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()} for c in frame.columns
        ]
    }


def test_a_missing_column_gets_the_http_message(stub, auth, server) -> None:
    frame, _ = numeric_frame(2)
    partial = frame[["a", "b", "c"]]
    error = refused(stub, typed_request("lr", partial), auth)
    expected = http_error(server, "lr", json_body(partial))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == expected["error"]
    assert trailer(error, "shipyard-code") == expected["code"]


def test_an_unknown_model_is_not_found_with_the_http_message(stub, auth, server) -> None:
    frame, _ = numeric_frame(1)
    error = refused(stub, typed_request("nosuch", frame), auth)
    expected = http_error(server, "nosuch", json_body(frame))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == expected["error"]


def test_an_unknown_version_is_not_found(stub, auth) -> None:
    frame, _ = numeric_frame(1)
    error = refused(stub, typed_request("lr", frame, model_version="9"), auth)
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_too_many_rows_is_resource_exhausted(stub, auth, server) -> None:
    frame, _ = numeric_frame(501)
    request = pb.ModelInferRequest(model_name="lr")
    for name in frame.columns:
        request.inputs.add(name=name, datatype="FP32", shape=[501])
        request.raw_input_contents.append(frame[name].to_numpy(np.float32).tobytes())
    error = refused(stub, request, auth)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailer(error, "shipyard-code") == "too_many_rows"


def test_a_message_over_max_body_bytes_is_refused_by_grpc(stub, auth) -> None:
    request = pb.ModelInferRequest(model_name="lr")
    request.inputs.add(name="a", datatype="FP64", shape=[10_000])
    request.raw_input_contents.append(np.zeros(10_000).tobytes())  # 80 kB > 64 kB
    error = refused(stub, request, auth)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def _raw(name: str, datatype: str, shape: list[int], data: bytes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="lr")
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(data)
    return request


def _typed(datatype: str, shape: list[int], field: str, values: list[object]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="lr")
    tensor = request.inputs.add(name="a", datatype=datatype, shape=shape)
    getattr(tensor.contents, field).extend(values)
    return request


def _two_raw_for_one_input() -> pb.ModelInferRequest:
    request = _raw("a", "FP64", [1], np.zeros(1).tobytes())
    request.raw_input_contents.append(b"")
    return request


def _twice() -> pb.ModelInferRequest:
    request = _typed("FP64", [1], "fp64_contents", [1.0])
    request.inputs.add(name="a", datatype="FP64", shape=[1]).contents.fp64_contents.append(2.0)
    return request


def _raw_and_typed() -> pb.ModelInferRequest:
    request = _raw("a", "FP64", [1], np.zeros(1).tobytes())
    request.inputs[0].contents.fp64_contents.append(1.0)
    return request


def _unknown_output() -> pb.ModelInferRequest:
    frame, _ = numeric_frame(1)
    request = typed_request("lr", frame)
    request.outputs.add(name="nosuch")
    return request


BAD = {
    "no inputs": (pb.ModelInferRequest(model_name="lr"), "the inference request needs at least one input"),
    "unknown datatype": (_typed("FP8", [1], "fp32_contents", [1.0]), "input 'a': unknown datatype 'FP8'"),
    "bf16": (_typed("BF16", [1], "fp32_contents", [1.0]), "input 'a': datatype BF16 is not supported"),
    "fp16 typed": (_typed("FP16", [1], "fp32_contents", [1.0]), "input 'a': datatype FP16 has no typed contents"),
    "negative shape": (_typed("FP64", [-1], "fp64_contents", [1.0]), "input 'a': shape [-1] has a negative dimension"),
    "count": (
        _typed("FP64", [3], "fp64_contents", [1.0]),
        "input 'a': shape [3] needs 3 values, fp64_contents holds 1",
    ),
    "wrong field": (_typed("FP64", [1], "int64_contents", [1]), "input 'a': datatype FP64 takes fp64_contents"),
    "raw size": (_raw("a", "FP64", [2], b"\0" * 12), "input 'a': shape [2] of FP64 needs 16 bytes"),
    "raw count": (_two_raw_for_one_input(), "the request has 1 inputs but 2 raw_input_contents"),
    "raw and typed": (_raw_and_typed(), "input 'a' has typed contents in a request that uses raw_input_contents"),
    "twice": (_twice(), "input 'a' is given twice"),
    "bytes cut": (_raw("a", "BYTES", [1], b"\x09\0\0\0ab"), "input 'a': BYTES element 0 claims 9 bytes"),
    "bool byte": (_raw("a", "BOOL", [1], b"\x07"), "input 'a': BOOL binary data holds bytes other than 0 and 1"),
    "unknown output": (_unknown_output(), "the model has no output 'nosuch'"),
    "bad id": (_typed("FP64", [1], "fp64_contents", [1.0]), "'id' contains control characters"),
}
BAD["bad id"][0].id = "a\nb"


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_malformed_requests_are_invalid_argument(stub, auth, case: str) -> None:
    request, message = BAD[case]
    error = refused(stub, request, auth)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(message)


@pytest.mark.parametrize(
    ("name", "version", "code"),
    [("bad name!", "", grpc.StatusCode.INVALID_ARGUMENT), ("lr", "x", grpc.StatusCode.INVALID_ARGUMENT)],
    ids=["name", "version"],
)
def test_bad_names_and_versions(stub, auth, name: str, version: str, code: grpc.StatusCode) -> None:
    frame, _ = numeric_frame(1)
    error = refused(stub, typed_request(name, frame, model_version=version), auth)
    assert error.code() == code


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("x-request-timeout-ms", "soon", "the X-Request-Timeout-Ms header must be a whole number"),
        ("x-prediction-key", "a b", "the X-Prediction-Key header must be 1 to 128 characters"),
    ],
    ids=["timeout", "prediction-key"],
)
def test_bad_metadata_is_refused_as_http_refuses_the_header(stub, auth, header: str, value: str, message: str) -> None:
    frame, _ = numeric_frame(1)
    error = refused(stub, typed_request("lr", frame), {**auth, header: value})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(message)
