"""Triton's statistics extension and read-only repository index, through tritonclient.http
against a real server: the counts are right, with one worker and with two; the routes keep
their scopes; ``GET /v2`` advertises both; ``GET /`` answers KServe's liveness check."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from fidelity_registry import COLUMNS, frame
from tritonclient.utils import InferenceServerException

from live_server import LiveServer, create_key


def client_for(server: LiveServer) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.url.removeprefix("http://"))


def per_column(rows: np.ndarray, columns: list[str] = COLUMNS) -> list[triton.InferInput]:
    """One [-1] FP64 tensor per column, as the model metadata advertises."""
    inputs = []
    for i, name in enumerate(columns):
        tensor = triton.InferInput(name, [rows.shape[0]], "FP64")
        tensor.set_data_from_numpy(np.ascontiguousarray(rows[:, i]))
        inputs.append(tensor)
    return inputs


def stats_of(server: LiveServer, model: str, version: str = "") -> dict[str, object]:
    with client_for(server) as client:
        body = client.get_inference_statistics(model, version, headers=server.auth_headers)
    [stat] = body["model_stats"]
    return stat


def test_server_metadata_advertises_both_extensions(server: LiveServer) -> None:
    with client_for(server) as client:
        extensions = client.get_server_metadata(headers=server.auth_headers)["extensions"]
    assert {"binary_tensor_data", "statistics", "model_repository"} <= set(extensions)


def test_statistics_count_successes_failures_rows_and_time(server: LiveServer) -> None:
    X, _ = frame(30, seed=1)
    rows = X.to_numpy()
    before = stats_of(server, "rf")
    assert before["inference_count"] == 0 and before["last_inference"] == 0
    assert before["inference_stats"]["success"] == {"count": 0, "ns": 0}
    started_ms = time.time() * 1000
    sizes = [1, 3, 5, 1, 10]
    with client_for(server) as client:
        offset = 0
        for size in sizes:
            client.infer("rf", per_column(rows[offset : offset + size]), headers=server.auth_headers)
            offset += size
        for _ in range(2):  # a column missing: refused by validation, counted as a failure
            with pytest.raises(InferenceServerException):
                client.infer("rf", per_column(rows[:2, :3], COLUMNS[:3]), headers=server.auth_headers)
    stat = stats_of(server, "rf")
    assert stat["name"] == "rf" and stat["version"] == "1"
    inference = stat["inference_stats"]
    assert inference["success"]["count"] == len(sizes)
    assert inference["success"]["ns"] > 0
    assert inference["fail"]["count"] == 2
    assert inference["fail"]["ns"] > 0
    assert inference["queue"]["count"] == len(sizes)
    assert stat["inference_count"] == sum(sizes)
    assert 1 <= stat["execution_count"] <= len(sizes)
    assert inference["compute_infer"]["count"] == stat["execution_count"]
    assert inference["compute_infer"]["ns"] > 0
    assert started_ms - 1000 <= stat["last_inference"] <= time.time() * 1000 + 1000
    assert stat["batch_stats"] == []
    # The version's own route says the same.
    assert stats_of(server, "rf", "1") == stat


def test_statistics_of_every_model_and_unknown_ones(server: LiveServer) -> None:
    with client_for(server) as client:
        every = client.get_inference_statistics(headers=server.auth_headers)["model_stats"]
        assert [(s["name"], s["version"]) for s in every] == [("lr", "1"), ("rf", "1")]
        for name, version in (("nope", ""), ("lr", "2"), ("lr", "999")):
            with pytest.raises(InferenceServerException) as raised:
                client.get_inference_statistics(name, version, headers=server.auth_headers)
            assert raised.value.status() == "404", (name, version)
    # Without a key: 401; the version in the path must be a number.
    assert httpx.get(server.url + "/v2/models/lr/stats").status_code == 401
    response = httpx.get(server.url + "/v2/models/lr/versions/one/stats", headers=server.auth_headers)
    assert response.status_code == 400 and "error" in response.json()


def test_statistics_and_index_show_only_what_the_key_may_read(server: LiveServer) -> None:
    token = create_key(server.home, role="viewer", models=("lr",))
    headers = {"Authorization": f"Bearer {token}"}
    with client_for(server) as client:
        every = client.get_inference_statistics(headers=headers)["model_stats"]
        assert [s["name"] for s in every] == ["lr"]
        assert [e["name"] for e in client.get_model_repository_index(headers=headers)] == ["lr"]
        with pytest.raises(InferenceServerException) as raised:
            client.get_inference_statistics("rf", headers=headers)
        assert raised.value.status() == "403"


def test_repository_index_is_read_only(server: LiveServer) -> None:
    with client_for(server) as client:
        index = client.get_model_repository_index(headers=server.auth_headers)
        assert index == [
            {"name": "lr", "version": "1", "state": "READY", "reason": ""},
            {"name": "rf", "version": "1", "state": "READY", "reason": ""},
        ]
        with pytest.raises(InferenceServerException) as raised:
            client.load_model("lr", headers=server.auth_headers)
        assert raised.value.status() == "400"
        assert "read-only" in raised.value.message()
        with pytest.raises(InferenceServerException):
            client.unload_model("lr", headers=server.auth_headers)
    only_ready = httpx.post(server.url + "/v2/repository/index", json={"ready": True}, headers=server.auth_headers)
    assert only_ready.status_code == 200 and len(only_ready.json()) == 2


@pytest.mark.parametrize(
    "body",
    [b"[]", b"{nope", b'{"ready": "yes"}', b'{"ready": true, "repository_name": "x"}'],
    ids=["not-object", "not-json", "ready-not-bool", "unknown-field"],
)
def test_repository_index_refuses_bad_bodies(server: LiveServer, body: bytes) -> None:
    response = httpx.post(
        server.url + "/v2/repository/index",
        content=body,
        headers={**server.auth_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"error", "code"}


def test_root_answers_kserve_liveness(server: LiveServer) -> None:
    # kserve 0.21's InferenceRESTClient(protocol v1).is_server_live: GET {base}/ and
    # response.json().get("status").lower() == "alive"; no key needed, as for health.
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert response.json().get("status").lower() == "alive"


@pytest.fixture(scope="module")
def two_workers(fidelity_home: tuple[Path, dict[str, object]]) -> Iterator[LiveServer]:
    home, _ = fidelity_home
    with LiveServer(home, ["lr@production", "rf"], settings={"workers": "2"}, ready_timeout=120) as srv:
        yield srv


def test_statistics_count_every_worker(two_workers: LiveServer) -> None:
    X, _ = frame(4, seed=2)
    body = {"inputs": [{"name": c, "shape": [2], "datatype": "FP64", "data": X[c][:2].tolist()} for c in COLUMNS]}
    # A new connection each, until both workers have answered: a request id starts with
    # its process's own random prefix (16 hex digits).
    workers: set[str] = set()
    n = 0
    while n < 40 or (len(workers) < 2 and n < 400):
        response = httpx.post(two_workers.url + "/v2/models/lr/infer", json=body, headers=two_workers.auth_headers)
        assert response.status_code == 200, response.text
        workers.add(response.headers["x-request-id"][:16])
        n += 1
    assert len(workers) == 2
    # Whichever worker answers, it answers for both.
    for _ in range(8):
        stat = stats_of(two_workers, "lr")
        assert stat["inference_stats"]["success"]["count"] == n
        assert stat["inference_count"] == 2 * n
        assert stat["last_inference"] > 0


def test_a_version_an_alias_moved_from_keeps_its_statistics(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from homes import open_home

    X, y = frame(100, seed=3)
    svc = open_home(tmp_path)
    try:
        for c in (1.0, 0.1):
            svc.registry.register("moved", LogisticRegression(C=c, max_iter=500).fit(X, y), sample=X.head(5))
        svc.store.set_alias("moved", "production", 1)
    finally:
        svc.close()
    rows = X.to_numpy()[:3]
    with LiveServer(tmp_path, ["moved@production"]) as server, client_for(server) as client:
        client.infer("moved", per_column(rows), headers=server.auth_headers)
        response = httpx.put(
            server.url + "/api/models/moved/aliases/production", json={"version": 2}, headers=server.auth_headers
        )
        assert response.status_code == 200, response.text
        client.infer("moved", per_column(rows[:1]), headers=server.auth_headers)
        stats = client.get_inference_statistics("moved", headers=server.auth_headers)["model_stats"]
        assert [(s["version"], s["inference_count"]) for s in stats] == [("1", 3), ("2", 1)]
        index = client.get_model_repository_index(headers=server.auth_headers)
        assert [(e["name"], e["version"], e["state"]) for e in index] == [("moved", "2", "READY")]
