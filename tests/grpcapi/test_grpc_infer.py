"""tritonclient.grpc against a real server: metadata, readiness, inference with raw contents."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_registry import COLUMNS, mixed_frame, numeric_frame


@pytest.fixture(scope="module")
def client(grpc_url: str) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(grpc_url)


def per_column(frame, datatype: str = "FP64") -> list[grpcclient.InferInput]:
    inputs = []
    for name in frame.columns:
        values = frame[name].to_numpy()
        if datatype == "BYTES" or values.dtype == object:
            values = values.astype(object)
            item = grpcclient.InferInput(name, [len(values)], "BYTES")
        else:
            item = grpcclient.InferInput(name, [len(values)], datatype)
        item.set_data_from_numpy(values)
        inputs.append(item)
    return inputs


def test_server_live_ready_and_metadata(client, auth) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata(headers=auth)
    assert metadata.name == "shipyard"
    assert client.is_model_ready("lr", headers=auth)


def test_model_metadata_lists_one_tensor_per_column(client, auth) -> None:
    metadata = client.get_model_metadata("lr", headers=auth)
    assert metadata.name == "lr"
    assert list(metadata.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [(c, "FP64", [-1]) for c in COLUMNS]
    assert {t.name for t in metadata.outputs} >= {"predict", "predict_proba"}


def test_infer_per_column_raw_contents_answers_as_the_model(client, auth, models) -> None:
    frame, _ = numeric_frame(7, seed=3)
    result = client.infer("lr", per_column(frame), headers=auth)
    expected = models["lr"].predict_proba(frame)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), expected, rtol=1e-6)
    np.testing.assert_array_equal(result.as_numpy("predict"), models["lr"].predict(frame))
    response = result.get_response()
    assert response.model_name == "lr"
    assert response.model_version == "1"


def test_infer_mixed_types_with_bytes_column(client, auth, models) -> None:
    frame, _ = mixed_frame(5, seed=4)
    result = client.infer("mixed", per_column(frame), headers=auth)
    np.testing.assert_array_equal(result.as_numpy("predict"), models["mixed"].predict(frame))


def test_infer_requested_outputs_in_order(client, auth) -> None:
    frame, _ = numeric_frame(2)
    outputs = [grpcclient.InferRequestedOutput("predict")]
    result = client.infer("lr", per_column(frame), outputs=outputs, headers=auth, request_id="req-1")
    response = result.get_response()
    assert [o.name for o in response.outputs] == ["predict"]
    assert response.id == "req-1"


def test_infer_two_d_tensor(client, auth, models) -> None:
    frame, _ = numeric_frame(3)
    matrix = frame.to_numpy()
    item = grpcclient.InferInput("input-0", list(matrix.shape), "FP64")
    item.set_data_from_numpy(matrix)
    result = client.infer("plain", [item], headers=auth)
    np.testing.assert_array_equal(result.as_numpy("predict"), models["plain"].predict(matrix))
