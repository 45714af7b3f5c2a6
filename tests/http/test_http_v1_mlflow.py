"""KServe V1 and MLflow's scoring protocol against a real server."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

COLUMNS = [f"x{i}" for i in range(20)]


def test_v1_list_and_status(server) -> None:
    assert httpx.get(server.url + "/v1/models", headers=server.auth_headers).json() == {"models": ["lr", "rf", "mixed"]}
    status = httpx.get(server.url + "/v1/models/lr", headers=server.auth_headers).json()
    assert status["name"] == "lr" and status["ready"] is True


def test_v1_instances_rows(server, models, classification_data) -> None:
    X, _ = classification_data
    response = httpx.post(
        server.url + "/v1/models/rf:predict", json={"instances": X[:4].tolist()}, headers=server.auth_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": models["rf"].predict(X[:4]).tolist()}


def test_v1_instances_records_and_inputs(server, models, classification_data) -> None:
    X, _ = classification_data
    records = [dict(zip(COLUMNS, row, strict=True)) for row in X[:3].tolist()]
    by_records = httpx.post(
        server.url + "/v1/models/lr:predict", json={"instances": records}, headers=server.auth_headers
    ).json()
    by_inputs = httpx.post(
        server.url + "/v1/models/lr:predict", json={"inputs": X[:3].tolist()}, headers=server.auth_headers
    ).json()
    expected = models["lr1"].predict(X[:3]).tolist()
    assert by_records == by_inputs == {"predictions": expected}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"instances": [[1.0] * 20], "inputs": [[1.0] * 20]}, "malformed_request"),
        ({}, "malformed_request"),
        ({"instances": [[1.0] * 19]}, "signature_mismatch"),
        ({"instances": [[1.0] * 19 + ["a"]]}, "signature_mismatch"),
        ({"instances": [[1.0] * 20, [1.0] * 19]}, None),
    ],
    ids=["both-keys", "no-keys", "wrong-width", "string-in-number", "ragged"],
)
def test_v1_bad_requests(server, body: dict[str, object], code: str | None) -> None:
    response = httpx.post(server.url + "/v1/models/lr:predict", json=body, headers=server.auth_headers)
    assert response.status_code == 400, response.text
    if code:
        assert response.json()["code"] == code


def test_mlflow_dataframe_split_on_first_model(server, models, classification_data) -> None:
    X, _ = classification_data
    payload = {"dataframe_split": {"columns": COLUMNS, "data": X[:5].tolist()}}
    response = httpx.post(server.url + "/invocations", json=payload, headers=server.auth_headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": models["lr1"].predict(X[:5]).tolist()}
    assert response.headers["x-shipyard-model-version"] == "1"


def test_mlflow_formats_agree(server, models, classification_data) -> None:
    X, _ = classification_data
    rows = X[:3]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    expected = {"predictions": models["rf"].predict(rows).tolist()}
    url = server.url + "/models/rf/invocations"
    shuffled = list(reversed(COLUMNS))
    bodies = {
        "split": {"dataframe_split": {"columns": shuffled, "data": frame[shuffled].to_numpy().tolist()}},
        "records": {"dataframe_records": frame.to_dict(orient="records")},
        "instances": {"instances": rows.tolist()},
        "inputs": {"inputs": rows.tolist(), "params": {}},
    }
    for name, body in bodies.items():
        response = httpx.post(url, json=body, headers=server.auth_headers)
        assert response.status_code == 200, (name, response.text)
        assert response.json() == expected, name
    csv = frame.to_csv(index=False)
    response = httpx.post(url, content=csv, headers={**server.auth_headers, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"dataframe_split": {"columns": ["x0"], "data": [[1.0]]}}', "application/json", 400),
        (b'{"dataframe_records": [], "instances": []}', "application/json", 400),
        (b'{"nope": 1}', "application/json", 400),
        (b"x0,x1\n1,2\n", "text/csv", 400),
        (b"<xml/>", "application/xml", 415),
        (b'{"inputs": [[1.0]], "params": 3}', "application/json", 400),
    ],
    ids=["missing-columns", "two-formats", "unknown-key", "csv-missing-columns", "bad-content-type", "params-not-dict"],
)
def test_mlflow_bad_requests(server, content: bytes, content_type: str, status: int) -> None:
    response = httpx.post(
        server.url + "/invocations", content=content, headers={**server.auth_headers, "Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    # MLflow's form (tests/fidelity has the rest): error_code and message, then our error and code.
    assert set(response.json()) >= {"error_code", "message", "error", "code"}
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_ping_and_health(server) -> None:
    assert httpx.get(server.url + "/ping", headers=server.auth_headers).status_code == 200
    assert httpx.get(server.url + "/health", headers=server.auth_headers).status_code == 200


def test_metrics_by_model_version_protocol(server, classification_data) -> None:
    X, _ = classification_data
    httpx.post(server.url + "/v1/models/lr:predict", json={"instances": X[:1].tolist()}, headers=server.auth_headers)
    httpx.post(server.url + "/v1/models/lr:predict", json={"instances": [[1.0]]}, headers=server.auth_headers)
    text = httpx.get(server.url + "/metrics", headers=server.auth_headers).text
    assert 'shipyard_inference_requests_total{model="lr",protocol="v1",version="1"}' in text
    assert 'shipyard_inference_errors_total{code="signature_mismatch",model="lr",protocol="v1",version="1"}' in text
    assert "shipyard_inference_latency_seconds_bucket" in text
    assert 'shipyard_models_loaded{model="rf",version="1"} 1.0' in text


def test_int64_columns_register_and_serve(tmp_path, classification_data) -> None:
    """JSON keeps no int64/float64 apart: the stored example must come back in its own dtypes."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from homes import open_home
    from live_server import LiveServer

    X, y = classification_data
    frame = pd.DataFrame({"count": (X[:, 0] * 10).astype("int64"), "score": X[:, 1]})
    model = LogisticRegression(max_iter=500).fit(frame, y)
    home = tmp_path / "home"
    svc = open_home(home)
    try:
        version = svc.registry.register("ints", model, sample=frame.head(5), training_data=frame, target=y)
    finally:
        svc.close()
    assert [f.dtype for f in version.signature.inputs] == ["int64", "float64"]
    with LiveServer(home, ["ints"]) as server:
        body = {"dataframe_split": {"columns": ["count", "score"], "data": frame.head(3).to_numpy().tolist()}}
        body["dataframe_split"]["data"] = [[int(a), float(b)] for a, b in body["dataframe_split"]["data"]]
        response = httpx.post(server.url + "/invocations", json=body, headers=server.auth_headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": model.predict(frame.head(3)).tolist()}
