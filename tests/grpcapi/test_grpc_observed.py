"""gRPC inference is served as HTTP's is: deployments choose a variant, versions are exact, and
metrics and the prediction log record it under the protocol ``grpc``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
from grpc_registry import metadata, numeric_frame, typed_request
from tritonclient.grpc import service_pb2 as pb

from live_server import LiveServer
from shipyard.monitoring.predlog.codec import iter_frames
from shipyard.monitoring.predlog.record import decode_record


def test_a_deployment_name_answers_with_its_sticky_variant(stub, auth) -> None:
    frame, _ = numeric_frame(1)
    frame.columns = ["x0", "x1", "x2", "x3"]  # the names "plain" (trained on an array) has
    seen = set()
    for user in ("u1", "u2", "u3", "u4", "u5", "u6", "u1"):
        call = stub.ModelInfer.with_call(typed_request("ab", frame), metadata=metadata({**auth, "x-user-id": user}))
        response, rpc = call
        parameters = {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in response.parameters.items()}
        assert parameters["deployment"] == "ab"
        assert parameters["variant"] in ("one", "two")
        headers = dict(rpc.initial_metadata())
        assert headers["x-shipyard-variant"] == parameters["variant"]
        assert headers["x-shipyard-model-version"] == response.model_version
        seen.add((user, parameters["variant"]))
    assert len({variant for user, variant in seen if user == "u1"}) == 1


def test_a_version_is_answered_by_exactly_that_version(stub, auth) -> None:
    frame, _ = numeric_frame(1)
    response = stub.ModelInfer(typed_request("lr", frame, model_version="1"), metadata=metadata(auth))
    assert response.model_version == "1"
    error = None
    try:
        stub.ModelReady(pb.ModelReadyRequest(name="lr", version="2"), metadata=metadata(auth))
    except grpc.RpcError as exc:
        error = exc
    assert error is not None and error.code() == grpc.StatusCode.NOT_FOUND


def test_the_request_id_comes_from_metadata_and_goes_back(stub, auth) -> None:
    frame, _ = numeric_frame(1)
    _, rpc = stub.ModelInfer.with_call(typed_request("lr", frame), metadata=metadata({**auth, "x-request-id": "rq-7"}))
    assert dict(rpc.initial_metadata())["x-request-id"] == "rq-7"


def _read_records(home: Path) -> list[dict[str, Any]]:
    directory = home / "predlog" / "segments"
    records: list[dict[str, Any]] = []
    if directory.is_dir():
        for path in sorted(p for p in directory.iterdir() if p.suffix in (".seg", ".open")):
            records.extend(decode_record(payload) for _offset, payload in iter_frames(path))
    return records


def test_metrics_and_the_prediction_log_say_grpc(stub, auth, server: LiveServer) -> None:
    frame, _ = numeric_frame(2)
    headers = {**auth, "x-prediction-key": "order-9", "x-request-id": "grpc-log-1"}
    stub.ModelInfer(typed_request("lr", frame), metadata=metadata(headers))
    with server.client() as http:
        text = http.get("/metrics").text
    assert 'shipyard_inference_requests_total{model="lr",protocol="grpc",version="1"}' in text
    assert 'shipyard_http_requests_total{route="grpc",status="2xx"}' in text
    deadline = time.monotonic() + 10
    found: list[dict[str, Any]] = []
    # The log writes in batches off the request path: wait for the record, briefly.
    while not found and time.monotonic() < deadline:
        found = [r for r in _read_records(server.home) if r["request_id"] == "grpc-log-1"]
        time.sleep(0.05)
    assert found, "no prediction-log record for the gRPC request"
    record = found[0]
    assert record["protocol"] == "grpc"
    assert record["key"] == "order-9"
    assert record["rows"] == 2
    assert record["inputs"]["a"] == frame["a"].tolist()
