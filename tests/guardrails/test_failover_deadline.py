"""Failover on a model error and on a timeout (a fallback model, a fixed answer), and the
client's deadline header (shorter only; bad values 400), over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from live_server import LiveServer
from shipyard.sdk.payloads import v2_request

FALLBACK = "x-shipyard-fallback"
FLAGS = "x-shipyard-flags"
DEADLINE = "X-Request-Timeout-Ms"


def infer(server: LiveServer, model: str, rows: list[list[float]], **headers: str) -> httpx.Response:
    with server.client(timeout=30.0) as client:
        return client.post(f"/v2/models/{model}/infer", json=v2_request(rows), headers=headers)


def predictions(response: httpx.Response) -> list[float]:
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    return list(outputs["predict"])


def test_without_a_fallback_a_model_error_is_an_error(server: LiveServer) -> None:
    response = infer(server, "boom_bare", [[1.0, 2.0]])
    assert response.status_code == 500
    assert response.json()["code"] == "model_error"


def test_a_model_error_fails_over_to_the_fixed_answer(server: LiveServer) -> None:
    response = infer(server, "boom", [[1.0, 2.0], [3.0, 4.0]])
    assert response.status_code == 200, response.text
    assert predictions(response) == [-1, -1]
    assert response.headers[FALLBACK] == "answer"
    assert response.headers[FLAGS] == "fallback:model_error"
    # The model's own answer when it does not fail: no mark.
    ok = infer(server, "boom", [[-1.0, 2.0]])
    assert predictions(ok) == [1.0] and FALLBACK not in ok.headers


def test_a_model_error_fails_over_to_the_fallback_model(server: LiveServer) -> None:
    response = infer(server, "boom_model", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert response.status_code == 200, response.text
    assert predictions(response) == [42.0, 42.0, 42.0]
    assert response.headers[FALLBACK] == "model:backup/1"
    assert response.headers[FLAGS] == "fallback:model_error"


def test_an_unloadable_fallback_model_leaves_the_fixed_answer(server: LiveServer) -> None:
    response = infer(server, "boom_broken", [[1.0, 2.0]])
    assert response.status_code == 200, response.text
    assert predictions(response) == [-3]
    assert response.headers[FALLBACK] == "answer"


def test_other_protocols_are_marked_too(server: LiveServer) -> None:
    with server.client() as client:
        v1 = client.post("/v1/models/boom:predict", json={"instances": [[1.0, 2.0]]})
        ml = client.post("/models/boom/invocations", json={"inputs": [[1.0, 2.0]]})
    assert v1.status_code == 200 and v1.json() == {"predictions": [-1]}
    assert v1.headers[FALLBACK] == "answer"
    assert ml.status_code == 200 and ml.json() == {"predictions": [-1]}
    assert ml.headers[FALLBACK] == "answer"


def test_a_timeout_fails_over_to_the_fixed_answer(server: LiveServer) -> None:
    started = time.monotonic()
    response = infer(server, "sleepy", [[1.5, 0.0]], **{DEADLINE: "300"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert predictions(response) == [-2]
    assert response.headers[FALLBACK] == "answer"
    assert response.headers[FLAGS] == "fallback:timeout"
    assert elapsed < 1.4


def test_the_client_may_shorten_the_deadline(server: LiveServer) -> None:
    started = time.monotonic()
    response = infer(server, "sleepy_bare", [[1.0, 0.0]], **{DEADLINE: "200"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "0.2s" in response.json()["error"]
    assert elapsed < 0.9
    # A deadline long enough lets the model answer.
    assert infer(server, "sleepy_bare", [[0.1, 0.0]], **{DEADLINE: "2000"}).status_code == 200


def test_the_client_cannot_lengthen_the_deadline(server: LiveServer) -> None:
    # The server's deadline is 3 s (request_timeout_seconds); the caller asks for 100 s.
    started = time.monotonic()
    response = infer(server, "sleepy_bare", [[4.0, 0.0]], **{DEADLINE: "100000"})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "3s" in response.json()["error"]
    assert elapsed < 3.9


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5", "", "+100", "0x10", "1e3", "9999999999", "10ms", "100,200"])
def test_bad_deadline_values_are_400(server: LiveServer, value: str) -> None:
    with server.client() as client:
        for path, body in (
            ("/v2/models/boom/infer", v2_request([[-1.0, 0.0]])),
            ("/v1/models/boom:predict", {"instances": [[-1.0, 0.0]]}),
            ("/models/boom/invocations", {"inputs": [[-1.0, 0.0]]}),
        ):
            response = client.post(path, json=body, headers={DEADLINE: value})
            assert response.status_code == 400, (path, value, response.text)
            assert response.json()["code"] == "invalid_request"
            assert "X-Request-Timeout-Ms" in response.json()["error"]


def test_fallbacks_are_counted_in_the_metrics(server: LiveServer) -> None:
    infer(server, "boom", [[1.0, 2.0]])
    with server.client() as client:
        text = client.get("/metrics").text
    assert 'shipyard_fallbacks_total{answered_by="answer",cause="model_error",model="boom"}' in text
