"""Open Inference Protocol V2 against a real server: JSON, binary extension, errors."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

X_ROW_COLUMNS = [f"x{i}" for i in range(20)]


def v2_body(rows: np.ndarray, name: str = "input-0", datatype: str = "FP64", **extra: object) -> dict[str, object]:
    return {
        "inputs": [{"name": name, "shape": list(rows.shape), "datatype": datatype, "data": rows.ravel().tolist()}],
        **extra,
    }


def binary_request(rows: np.ndarray, *, outputs_binary: bool = False) -> tuple[bytes, dict[str, str]]:
    raw = np.ascontiguousarray(rows, dtype="<f8").tobytes()
    header = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    if outputs_binary:
        header["parameters"] = {"binary_data_output": True}
    head = json.dumps(header).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"}


def test_server_metadata_and_health(server) -> None:
    meta = httpx.get(server.url + "/v2", headers=server.auth_headers).json()
    assert meta["name"] == "shipyard"
    assert "binary_tensor_data" in meta["extensions"]
    assert httpx.get(server.url + "/v2/health/live", headers=server.auth_headers).status_code == 200
    assert httpx.get(server.url + "/v2/health/ready", headers=server.auth_headers).json() == {"ready": True}


def test_model_metadata_lists_columns_and_outputs(server) -> None:
    response = httpx.get(server.url + "/v2/models/lr", headers=server.auth_headers)
    assert response.status_code == 200
    meta = response.json()
    assert meta["name"] == "lr"
    assert meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == X_ROW_COLUMNS
    assert {o["name"] for o in meta["outputs"]} == {"predict", "predict_proba"}
    assert response.headers["x-shipyard-model-version"] == "1"
    assert httpx.get(server.url + "/v2/models/lr/versions/1/ready", headers=server.auth_headers).json()["ready"] is True


def test_infer_one_2d_tensor_matches_model(server, models, classification_data) -> None:
    X, _ = classification_data
    rows = X[:7]
    response = httpx.post(
        server.url + "/v2/models/lr/infer", json=v2_body(rows, id="req-42"), headers=server.auth_headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-42"
    assert body["model_name"] == "lr" and body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["shape"] == [7]
    assert outputs["predict"]["data"] == models["lr1"].predict(rows).tolist()
    proba = np.asarray(outputs["predict_proba"]["data"]).reshape(outputs["predict_proba"]["shape"])
    np.testing.assert_allclose(proba, models["lr1"].predict_proba(rows), rtol=1e-12)


def test_infer_one_tensor_per_column(server, models, classification_data) -> None:
    X, _ = classification_data
    rows = X[:3]
    inputs = [
        {"name": name, "shape": [3], "datatype": "FP64", "data": rows[:, i].tolist()}
        for i, name in reversed(list(enumerate(X_ROW_COLUMNS)))
    ]
    body = httpx.post(server.url + "/v2/models/lr/infer", json={"inputs": inputs}, headers=server.auth_headers).json()
    predict = next(o for o in body["outputs"] if o["name"] == "predict")
    assert predict["data"] == models["lr1"].predict(rows).tolist()


def test_infer_without_content_type_is_json(server, models, classification_data) -> None:
    X, _ = classification_data
    raw = json.dumps(v2_body(X[:2])).encode()
    response = httpx.post(
        server.url + "/v2/models/lr/infer", content=raw, headers={**server.auth_headers, "Content-Type": ""}
    )
    assert response.status_code == 200, response.text


def test_binary_request_and_binary_response(server, models, classification_data) -> None:
    X, _ = classification_data
    rows = X[:5]
    content, headers = binary_request(rows, outputs_binary=True)
    response = httpx.post(
        server.url + "/v2/models/lr/infer", content=content, headers={**server.auth_headers, **headers}
    )
    assert response.status_code == 200, response.text
    header_len = int(response.headers["inference-header-content-length"])
    header = json.loads(response.content[:header_len])
    offset = header_len
    found = {}
    for out in header["outputs"]:
        size = out["parameters"]["binary_data_size"]
        dtype = {"INT64": "<i8", "FP64": "<f8"}[out["datatype"]]
        found[out["name"]] = np.frombuffer(response.content[offset : offset + size], dtype=dtype).reshape(out["shape"])
        offset += size
    assert offset == len(response.content)
    np.testing.assert_array_equal(found["predict"], models["lr1"].predict(rows))
    np.testing.assert_allclose(found["predict_proba"], models["lr1"].predict_proba(rows), rtol=1e-12)


def test_request_id_header_echoed_or_created(server, classification_data) -> None:
    X, _ = classification_data
    mine = httpx.post(
        server.url + "/v2/models/lr/infer",
        json=v2_body(X[:1]),
        headers={**server.auth_headers, "X-Request-Id": "abc-123"},
    )
    assert mine.headers["x-request-id"] == "abc-123"
    fresh = httpx.get(server.url + "/v2/health/live", headers=server.auth_headers)
    assert len(fresh.headers["x-request-id"]) == 32


def test_versioned_infer(server, classification_data) -> None:
    X, _ = classification_data
    ok = httpx.post(server.url + "/v2/models/lr/versions/1/infer", json=v2_body(X[:1]), headers=server.auth_headers)
    assert ok.status_code == 200
    missing = httpx.post(
        server.url + "/v2/models/lr/versions/7/infer", json=v2_body(X[:1]), headers=server.auth_headers
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "version_not_found"


def test_mixed_types_per_column(server, models) -> None:
    inputs = [
        {"name": "age", "shape": [2], "datatype": "FP64", "data": [30.0, 70.0]},
        {"name": "income", "shape": [2], "datatype": "FP64", "data": [40000.0, 60000.0]},
        {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "basic"]},
    ]
    response = httpx.post(server.url + "/v2/models/mixed/infer", json={"inputs": inputs}, headers=server.auth_headers)
    assert response.status_code == 200, response.text
    import pandas as pd

    frame = pd.DataFrame({"age": [30.0, 70.0], "income": [40000.0, 60000.0], "plan": ["pro", "basic"]})
    predict = next(o for o in response.json()["outputs"] if o["name"] == "predict")
    assert predict["data"] == models["mixed"].predict(frame).tolist()


def _error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "code"}
    assert len(body["error"]) < 400, "errors say what is wrong without dumping the schema"
    return body


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"{not json", 400, "malformed_request"),
        (b"[1, 2]", 400, "malformed_request"),
        (b'{"outputs": []}', 400, "malformed_request"),
        (json.dumps({"inputs": [], "surprise": 1}).encode(), 400, "malformed_request"),
        (json.dumps(v2_body(np.zeros((2, 19)))).encode(), 400, "signature_mismatch"),
        (json.dumps(v2_body(np.zeros((2, 20)), datatype="BYTES")).encode(), 400, None),
        (
            json.dumps({"inputs": [{"name": "x0", "shape": [1], "datatype": "FP64", "data": [1.0]}]}).encode(),
            400,
            "signature_mismatch",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": [1.0] * 19}]}
            ).encode(),
            400,
            "malformed_request",
        ),
        (
            json.dumps(
                {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": [None] * 20}]}
            ).encode(),
            400,
            "signature_mismatch",
        ),
        (json.dumps(v2_body(np.zeros((501, 20)))).encode(), 413, None),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "missing-inputs",
        "extra-field",
        "wrong-shape",
        "wrong-datatype",
        "missing-columns",
        "data-shape-mismatch",
        "nan-null",
        "too-many-rows",
    ],
)
def test_bad_v2_requests(server, payload: bytes, status: int, code: str | None) -> None:
    response = httpx.post(
        server.url + "/v2/models/lr/infer",
        content=payload,
        headers={**server.auth_headers, "Content-Type": "application/json"},
    )
    body = _error(response, status)
    if code:
        assert body["code"] == code


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")], ids=["nan", "inf", "-inf"])
def test_nan_and_inf_refused_in_binary_data(server, classification_data, value: float) -> None:
    X, _ = classification_data
    rows = X[:2].copy()
    rows[1, 3] = value
    content, headers = binary_request(rows)
    body = _error(
        httpx.post(server.url + "/v2/models/lr/infer", content=content, headers={**server.auth_headers, **headers}), 400
    )
    assert body["code"] == "signature_mismatch"


def test_bad_binary_sizes(server, classification_data) -> None:
    X, _ = classification_data
    content, headers = binary_request(X[:2])
    truncated = httpx.post(
        server.url + "/v2/models/lr/infer", content=content[:-8], headers={**server.auth_headers, **headers}
    )
    assert _error(truncated, 400)["code"] == "malformed_request"
    headers = {**headers, "Inference-Header-Content-Length": str(len(content) + 10)}
    assert _error(
        httpx.post(server.url + "/v2/models/lr/infer", content=content, headers={**server.auth_headers, **headers}), 400
    )


def test_oversized_body_refused_before_reading(server) -> None:
    big = b"{" + b" " * 70_000 + b"}"
    response = httpx.post(
        server.url + "/v2/models/lr/infer",
        content=big,
        headers={**server.auth_headers, "Content-Type": "application/json"},
    )
    assert _error(response, 413)["code"] == "payload_too_large"


def test_oversized_chunked_body_refused(server) -> None:
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = httpx.post(
        server.url + "/v2/models/lr/infer",
        content=chunks(),
        headers={**server.auth_headers, "Content-Type": "application/json"},
    )
    assert _error(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope/infer",
        "/v2/models/lr/versions/99/ready",
    ],
    ids=["unknown-model", "unknown-version"],
)
def test_unknown_model_or_version_404(server, path: str) -> None:
    method = httpx.post if path.endswith("infer") else httpx.get
    kwargs = {"json": {"inputs": []}} if method is httpx.post else {}
    assert _error(method(server.url + path, headers=server.auth_headers, **kwargs), 404)["code"] in (
        "model_not_found",
        "version_not_found",
    )


@pytest.mark.parametrize(
    "raw_path",
    [
        "/v2/models/..%2f..%2fetc/infer",
        "/v2/models/%2e%2e%2f%2e%2e%2fetc/infer",
        "/v2/models/..%5cwindows/infer",
        "/v2/models/..%00/infer",
        "/v2/models/lr/versions/..%2f1/infer",
        "/v2/models/lr/versions/abc/infer",
        "/v2/models/%2fetc%2fpasswd/infer",
    ],
    ids=["dotdot-slash", "encoded-dots", "backslash", "nul", "version-traversal", "version-not-number", "absolute"],
)
def test_traversal_in_names_and_versions(server, raw_path: str) -> None:
    with server.client() as client:
        request = client.build_request("POST", server.url, json={"inputs": []})
        request.url = httpx.URL(server.url + raw_path)
        response = client.send(request)
    assert 400 <= response.status_code < 500, response.text
    assert "code" in response.json()


def test_unknown_route_is_json_404(server) -> None:
    response = httpx.get(server.url + "/nope", headers=server.auth_headers)
    assert _error(response, 404)["code"] == "not_found"
