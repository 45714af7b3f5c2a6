"""Typed ``contents`` (what tritonclient never sends): each datatype family in, typed outputs back."""

from __future__ import annotations

import grpc
import numpy as np
import pandas as pd
import pytest
from grpc_registry import metadata, mixed_frame, numeric_frame, typed_request
from tritonclient.grpc import service_pb2 as pb


def test_typed_contents_in_typed_contents_out(stub, auth, models) -> None:
    frame, _ = numeric_frame(6, seed=5)
    response = stub.ModelInfer(typed_request("lr", frame, id="typed-1"), metadata=metadata(auth))
    assert response.id == "typed-1"
    assert not response.raw_output_contents
    by_name = {o.name: o for o in response.outputs}
    proba = by_name["predict_proba"]
    assert proba.datatype == "FP64"
    assert list(proba.shape) == [6, 2]
    got = np.array(proba.contents.fp64_contents).reshape(6, 2)
    np.testing.assert_allclose(got, models["lr"].predict_proba(frame), rtol=1e-6)
    predict = by_name["predict"]
    assert predict.datatype == "INT64"
    np.testing.assert_array_equal(predict.contents.int64_contents, models["lr"].predict(frame))


def test_typed_bytes_contents_for_a_string_column(stub, auth, models) -> None:
    frame, _ = mixed_frame(4, seed=6)
    response = stub.ModelInfer(typed_request("mixed", frame), metadata=metadata(auth))
    predict = next(o for o in response.outputs if o.name == "predict")
    np.testing.assert_array_equal(predict.contents.int64_contents, models["mixed"].predict(frame))


@pytest.mark.parametrize(
    ("datatype", "field", "values"),
    [
        ("FP32", "fp32_contents", [0.5, -1.0]),
        ("INT32", "int_contents", [1, -2]),
        ("INT16", "int_contents", [1, -2]),
        ("INT64", "int64_contents", [3, 4]),
        ("UINT8", "uint_contents", [1, 2]),
        ("UINT64", "uint64_contents", [1, 2]),
    ],
    ids=["fp32", "int32", "int16", "int64", "uint8", "uint64"],
)
def test_every_numeric_contents_field_reaches_a_float_model(stub, auth, models, datatype, field, values) -> None:
    request = pb.ModelInferRequest(model_name="lr")
    for name in ("a", "b", "c", "d"):
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[2])
        getattr(tensor.contents, field).extend(values)
    response = stub.ModelInfer(request, metadata=metadata(auth))
    frame = pd.DataFrame({name: np.array(values, dtype=np.float64) for name in ("a", "b", "c", "d")})
    expected = models["lr"].predict(frame)
    predict = next(o for o in response.outputs if o.name == "predict")
    np.testing.assert_array_equal(predict.contents.int64_contents, expected)


def test_narrow_integers_out_of_range_are_refused(stub, auth) -> None:
    request = pb.ModelInferRequest(model_name="lr")
    for name in ("a", "b", "c", "d"):
        tensor = request.inputs.add(name=name, datatype="INT8", shape=[1])
        tensor.contents.int_contents.append(300)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, metadata=metadata(auth))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "input 'a': values outside the range of INT8"


def test_a_large_request_is_converted_off_the_event_loop_with_the_same_answer(stub, auth, models) -> None:
    frame, _ = numeric_frame(200, seed=8)  # about 6.5 kB of contents: over the server's 1 kB offload size
    request = typed_request("lr", frame)
    assert request.ByteSize() > 1024
    response = stub.ModelInfer(request, metadata=metadata(auth))
    predict = next(o for o in response.outputs if o.name == "predict")
    np.testing.assert_array_equal(predict.contents.int64_contents, models["lr"].predict(frame))
