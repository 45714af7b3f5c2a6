"""MLflow's scoring routes answer errors in MLflow's form, ``{"error_code", "message"}``
(with our ``error`` and ``code`` beside them), from the edge as from the endpoint; a Content-Type
parameter MLflow does not know is 415, as MLflow answers it. KServe V1 and the Open
Inference Protocol keep ``{"error": ...}``. Against a real server."""

from __future__ import annotations

import httpx
import pytest
from fidelity_registry import COLUMNS

ROW = [0.1, 0.2, 0.3, 0.4]
SPLIT = {"dataframe_split": {"columns": COLUMNS, "data": [ROW]}}
PATHS = ["/invocations", "/models/lr/invocations"]


def assert_mlflow_error(response: httpx.Response, status: int, error_code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error_code"] == error_code, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["error"] == body["message"]  # and still the OpenAPI document's Error
    return body


@pytest.mark.parametrize("path", PATHS, ids=["default", "named"])
@pytest.mark.parametrize(
    ("content", "content_type", "code"),
    [
        (b"{not json", "application/json", "malformed_request"),
        (b'{"nope": 1}', "application/json", "malformed_request"),
        (b'{"dataframe_records": [], "instances": []}', "application/json", "malformed_request"),
        (b'{"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}', "application/json", "signature_mismatch"),
        (b'{"inputs": [[1.0, 2.0, 3.0, 4.0]], "params": 3}', "application/json", "malformed_request"),
        (b"a,b\n1,2\n", "text/csv", "signature_mismatch"),
    ],
    ids=["not-json", "unknown-key", "two-formats", "missing-columns", "params-not-object", "csv-missing-columns"],
)
def test_bad_bodies_answer_bad_request(server, path: str, content: bytes, content_type: str, code: str) -> None:
    response = httpx.post(
        server.url + path, content=content, headers={**server.auth_headers, "Content-Type": content_type}
    )
    body = assert_mlflow_error(response, 400, "BAD_REQUEST")
    assert body["code"] == code


@pytest.mark.parametrize(
    "content_type",
    ["application/json; format=pandas-split", "application/json; something=else", "text/csv; header=present"],
    ids=["mlflow1-format", "unknown-parameter", "csv-parameter"],
)
def test_unknown_content_type_parameters_are_415(server, content_type: str) -> None:
    response = httpx.post(
        server.url + "/invocations", json=SPLIT, headers={**server.auth_headers, "Content-Type": content_type}
    )
    body = assert_mlflow_error(response, 415, "BAD_REQUEST")
    assert body["message"].startswith("Unrecognized content type parameters: ")
    assert content_type.split(";")[1].split("=", maxsplit=1)[0].strip() in body["message"]


def test_charset_is_the_one_parameter_taken(server) -> None:
    response = httpx.post(
        server.url + "/invocations",
        json=SPLIT,
        headers={**server.auth_headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"predictions"}


def test_unsupported_media_type_is_415(server) -> None:
    response = httpx.post(
        server.url + "/invocations", content=b"<x/>", headers={**server.auth_headers, "Content-Type": "application/xml"}
    )
    assert_mlflow_error(response, 415, "BAD_REQUEST")


def test_unknown_model_is_resource_does_not_exist(server) -> None:
    response = httpx.post(server.url + "/models/nope/invocations", json=SPLIT, headers=server.auth_headers)
    body = assert_mlflow_error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert body["code"] == "model_not_found"


def test_edge_refusals_take_mlflow_form(server) -> None:
    # No key: refused at the edge, before any endpoint runs.
    response = httpx.post(server.url + "/invocations", json=SPLIT)
    body = assert_mlflow_error(response, 401, "UNAUTHENTICATED")
    assert body["code"] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    # A body over max_body_bytes: refused at the edge from its Content-Length.
    big = {"dataframe_split": {"columns": COLUMNS, "data": [ROW] * 600}}
    response = httpx.post(server.url + "/models/lr/invocations", json=big, headers=server.auth_headers)
    assert_mlflow_error(response, 413, "BAD_REQUEST")
    # A method the route does not take: Starlette's 405, in MLflow's form too.
    response = httpx.get(server.url + "/invocations", headers=server.auth_headers)
    assert_mlflow_error(response, 405, "BAD_REQUEST")


def test_kserve_and_v2_keep_their_error_form(server) -> None:
    v1 = httpx.post(server.url + "/v1/models/lr:predict", json={"instances": [[1.0]]}, headers=server.auth_headers)
    assert v1.status_code == 400
    assert set(v1.json()) >= {"error", "code"} and "error_code" not in v1.json()
    v2 = httpx.post(server.url + "/v2/models/nope/infer", json={"inputs": []}, headers=server.auth_headers)
    assert v2.status_code == 404
    assert set(v2.json()) >= {"error", "code"} and "error_code" not in v2.json()
    ping = httpx.get(server.url + "/ping")
    assert ping.status_code == 200
