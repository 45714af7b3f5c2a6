"""gRPC follows HTTP's access rules: keys in metadata, scopes per model, open inference, rate limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import tritonclient.grpc as grpcclient
from grpc_registry import metadata, numeric_frame, typed_request
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc
from tritonclient.utils import InferenceServerException

from live_server import LiveServer, free_port


def refused(call, request, headers: dict[str, str] | None = None) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, metadata=metadata(headers or {}))
    return caught.value


def test_health_is_open_to_anyone(stub) -> None:
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready


def test_no_key_is_unauthenticated_with_the_http_message(stub, server) -> None:
    frame, _ = numeric_frame(1)
    error = refused(stub.ModelInfer, typed_request("lr", frame))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    with server.client(headers={"Authorization": ""}) as http:
        http.headers.pop("Authorization")
        expected = http.post("/v2/models/lr/infer", json={"inputs": []}).json()
    assert error.details() == expected["error"]
    assert refused(stub.ServerMetadata, pb.ServerMetadataRequest()).code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused(stub.ModelMetadata, pb.ModelMetadataRequest(name="lr")).code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "value", ["Bearer shp_nosuchkey_secret", "Basic dXNlcjpwYXNz", "Bearer "], ids=["unknown", "basic", "empty"]
)
def test_a_bad_key_is_unauthenticated(stub, value: str) -> None:
    frame, _ = numeric_frame(1)
    error = refused(stub.ModelInfer, typed_request("lr", frame), {"authorization": value})
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_viewer_reads_metadata_but_may_not_infer(stub, key_for) -> None:
    viewer = key_for("viewer")
    assert stub.ModelMetadata(pb.ModelMetadataRequest(name="lr"), metadata=metadata(viewer)).name == "lr"
    assert stub.ModelReady(pb.ModelReadyRequest(name="lr"), metadata=metadata(viewer)).ready
    frame, _ = numeric_frame(1)
    error = refused(stub.ModelInfer, typed_request("lr", frame), viewer)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "this key lacks the infer scope on model 'lr'"


def test_a_key_for_one_model_may_not_infer_with_another(stub, key_for) -> None:
    only_lr = key_for("predictor", ("lr",))
    frame, _ = numeric_frame(1)
    assert stub.ModelInfer(typed_request("lr", frame), metadata=metadata(only_lr)).outputs
    error = refused(stub.ModelInfer, typed_request("plain", frame), only_lr)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = refused(stub.ModelMetadata, pb.ModelMetadataRequest(name="mixed"), only_lr)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_refusals_are_in_the_audit_trail(stub, server) -> None:
    frame, _ = numeric_frame(1)
    refused(stub.ModelInfer, typed_request("lr", frame), {"authorization": "Bearer shp_nosuchkey_secret"})
    resources: list[str] = []
    deadline = time.monotonic() + 10
    with server.client() as http:
        # The audit writer records denials off the request path: wait for it, briefly.
        while not any(r.startswith("GRPC ModelInfer lr") for r in resources) and time.monotonic() < deadline:
            entries = http.get("/api/audit", params={"action": "auth.denied"}).json()["entries"]
            resources = [str(e.get("resource")) for e in entries]
            time.sleep(0.1)
    assert any(r.startswith("GRPC ModelInfer lr") for r in resources), resources


def test_other_triton_calls_are_unimplemented(grpc_url: str, auth) -> None:
    client = grpcclient.InferenceServerClient(grpc_url)
    with pytest.raises(InferenceServerException) as caught:
        client.get_inference_statistics("lr", headers=auth)
    assert caught.value.status() == "StatusCode.UNIMPLEMENTED"


@pytest.fixture(scope="module")
def open_server(registry_home: tuple[Path, dict[str, object]]) -> Iterator[LiveServer]:
    home, _ = registry_home
    settings = {"grpc_port": str(free_port()), "open_inference": "lr", "rate_limits": "anonymous=3/m"}
    with LiveServer(home, ["lr", "mixed"], settings=settings) as srv:
        yield srv


def test_open_inference_and_the_anonymous_quota(open_server: LiveServer) -> None:
    frame, _ = numeric_frame(1)
    with grpc.insecure_channel(f"127.0.0.1:{open_server.settings['grpc_port']}") as channel:
        anonymous = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        assert anonymous.ModelMetadata(pb.ModelMetadataRequest(name="lr")).name == "lr"
        assert anonymous.ModelInfer(typed_request("lr", frame)).outputs
        error = refused(anonymous.ModelInfer, typed_request("mixed", frame))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert anonymous.ModelInfer(typed_request("lr", frame)).outputs
        error = refused(anonymous.ModelInfer, typed_request("lr", frame))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(error.trailing_metadata())
        assert trailers["shipyard-code"] == "rate_limited"
        assert int(trailers["retry-after"]) >= 1
