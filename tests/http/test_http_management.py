"""The management API against a real server: read, alias, upload, download, bad input."""

from __future__ import annotations

import hashlib
import io
import json
import pickle

import httpx
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression


def test_list_and_show(server) -> None:
    models = httpx.get(server.url + "/api/models", headers=server.auth_headers).json()["models"]
    assert {m["name"] for m in models} >= {"lr", "rf", "mixed"}
    lr = httpx.get(server.url + "/api/models/lr", headers=server.auth_headers).json()
    assert [v["version"] for v in lr["versions"]][:2] == [1, 2]
    assert lr["aliases"]["production"] == 1
    v1 = httpx.get(server.url + "/api/models/lr/versions/1", headers=server.auth_headers).json()
    assert v1["flavor"] == "sklearn"
    assert v1["lineage"]["training_data"]["rows"] == 600
    assert v1["lineage"]["metrics"] == {"accuracy": 0.9}
    assert len(v1["artifact"]["sha256"]) == 64
    assert v1["signature"]["inputs"][0]["name"] == "x0"


def test_openapi_document(server) -> None:
    doc = httpx.get(server.url + "/openapi.json", headers=server.auth_headers).json()
    assert doc["openapi"].startswith("3.")
    assert "/api/models/{name}/aliases/{alias}" in doc["paths"]
    assert "/v2/models/{name}/infer" in doc["paths"]


def test_upload_download_and_alias(server, classification_data) -> None:
    X, y = classification_data
    buf = io.BytesIO(skops.io.dumps(LogisticRegression(max_iter=300, C=0.5).fit(X, y)))
    sample = json.dumps({"columns": [f"x{i}" for i in range(20)], "data": X[:3].tolist()})
    response = httpx.post(
        server.url + "/api/models/uploaded/versions",
        files={"artifact": ("model.skops", buf.getvalue()), "sample": ("sample.json", sample.encode())},
        data={"metadata": json.dumps({"description": "by upload", "metrics": {"auc": 0.8}})},
        headers=server.auth_headers,
        timeout=60,  # the server's first registration imports the compile stack
    )
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["model"] == "uploaded" and version["version"] == 1
    assert version["description"] == "by upload"
    download = httpx.get(server.url + "/api/models/uploaded/versions/1/artifact", headers=server.auth_headers)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == version["artifact"]["sha256"]
    assert download.headers["x-shipyard-sha256"] == version["artifact"]["sha256"]

    put = httpx.put(
        server.url + "/api/models/uploaded/aliases/staging", json={"version": 1}, headers=server.auth_headers
    )
    assert put.json() == {"model": "uploaded", "alias": "staging", "version": 1}
    assert httpx.get(server.url + "/api/models/uploaded", headers=server.auth_headers).json()["aliases"] == {
        "staging": 1
    }
    assert (
        httpx.delete(server.url + "/api/models/uploaded/aliases/staging", headers=server.auth_headers).status_code
        == 204
    )
    assert (
        httpx.delete(server.url + "/api/models/uploaded/aliases/staging", headers=server.auth_headers).status_code
        == 404
    )


def test_pickle_upload_refused_without_trust(server, classification_data) -> None:
    X, y = classification_data
    data = pickle.dumps(LogisticRegression(max_iter=200).fit(X, y))
    response = httpx.post(
        server.url + "/api/models/pickled/versions",
        files={"artifact": ("model.pkl", data)},
        headers=server.auth_headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "unsafe_format"
    assert httpx.get(server.url + "/api/models/pickled", headers=server.auth_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/models/nope", {}, 404),
        ("GET", "/api/models/lr/versions/99", {}, 404),
        ("GET", "/api/models/lr/versions/zero", {}, 400),
        ("PUT", "/api/models/lr/aliases/production", {"json": {"version": 99}}, 404),
        ("PUT", "/api/models/lr/aliases/1bad", {"json": {"version": 1}}, 400),
        ("PUT", "/api/models/lr/aliases/ok", {"json": {"version": "x"}}, 400),
        ("PUT", "/api/models/lr/aliases/ok", {"json": {"version": 1, "more": 2}}, 400),
        (
            "PUT",
            "/api/models/lr/aliases/ok",
            {"content": b"{oops", "headers": {"content-type": "application/json"}},
            400,
        ),
        (
            "POST",
            "/api/models/up/versions",
            {"content": b"raw", "headers": {"content-type": "application/octet-stream"}},
            415,
        ),
        ("POST", "/api/models/up/versions", {"files": {"other": ("a", b"b")}}, 400),
        ("POST", "/api/models/up/versions", {"files": {"artifact": ("a.csv", b"a,b\n1,2\n")}}, 422),
        (
            "POST",
            "/api/models/up/versions",
            {"files": {"artifact": ("m", b"x")}, "data": {"metadata": '{"nope": 1}'}},
            400,
        ),
        (
            "POST",
            "/api/models/up/versions",
            {"files": {"artifact": ("m", b"x")}, "data": {"metadata": '{"output_names": {"output_label": 3}}'}},
            400,
        ),
        ("POST", "/api/models/..%2fup/versions", {"files": {"artifact": ("m", b"x")}}, 404),
        ("GET", "/api/models/lr/versions/1/artifact/..%2f..%2f", {}, 404),
    ],
    ids=[
        "unknown-model",
        "unknown-version",
        "bad-version",
        "alias-missing-version",
        "bad-alias",
        "alias-version-not-int",
        "alias-extra-field",
        "alias-bad-json",
        "upload-not-multipart",
        "upload-no-artifact",
        "upload-not-a-model",
        "upload-unknown-metadata",
        "upload-bad-output-names",
        "upload-traversal",
        "download-traversal",
    ],
)
def test_management_bad_input(server, method: str, path: str, kwargs: dict[str, object], status: int) -> None:
    with server.client() as client:
        request = client.build_request(method, server.url, **kwargs)
        request.url = httpx.URL(server.url + path)
        response = client.send(request)
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"error", "code"}
