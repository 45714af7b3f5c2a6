"""A served alias moves under concurrent load: no request fails; a broken version never serves."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from http_registry import build_registry

from homes import open_home
from live_server import LiveServer


def _load(
    url: str, stop: threading.Event, results: list[tuple[int, str]], rows: list[float], auth: dict[str, str]
) -> None:
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": rows}]}
    with httpx.Client(timeout=10, headers=auth) as client:
        while not stop.is_set():
            try:
                response = client.post(url + "/v2/models/lr/infer", json=body)
                results.append((response.status_code, response.headers.get("x-shipyard-model-version", "")))
            except httpx.HTTPError as exc:
                results.append((0, type(exc).__name__))


def _tamper(home: Path, sha256: str) -> None:
    blob = next(home.rglob(sha256))
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")


def test_alias_moves_under_load_without_failures(tmp_path: Path, classification_data) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    build_registry(home, X, y)
    with LiveServer(home, ["lr@production"], settings={"alias_poll_seconds": "0.2"}) as server:
        stop = threading.Event()
        results: list[tuple[int, str]] = []
        threads = [
            threading.Thread(target=_load, args=(server.url, stop, results, X[i].tolist(), server.auth_headers))
            for i in range(8)
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            moved = httpx.put(
                server.url + "/api/models/lr/aliases/production", json={"version": 2}, headers=server.auth_headers
            )
            assert moved.status_code == 200, moved.text
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and (not results or results[-1][1] != "2"):
                time.sleep(0.05)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=20)
        statuses = Counter(status for status, _ in results)
        versions = Counter(version for _, version in results)
        assert statuses == Counter({200: len(results)}), statuses
        assert versions["1"] > 0 and versions["2"] > 0, versions
        # Once version 2 answered, version 1 never answers again.
        first_two = next(i for i, (_, v) in enumerate(results) if v == "2")
        assert all(v == "2" for _, v in results[first_two + 50 :])


def test_version_that_fails_to_load_leaves_old_one_serving(tmp_path: Path, classification_data) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    build_registry(home, X, y)
    svc = open_home(home)
    try:
        from sklearn.linear_model import LogisticRegression

        v3 = svc.registry.register("lr", LogisticRegression(max_iter=500).fit(X, 1 - y), sample=X[:5])
    finally:
        svc.close()
    _tamper(home, v3.artifact.sha256)
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": X[0].tolist()}]}
    with LiveServer(home, ["lr@production"], settings={"alias_poll_seconds": "0.2"}) as server:
        moved = httpx.put(
            server.url + "/api/models/lr/aliases/production", json={"version": 3}, headers=server.auth_headers
        )
        assert moved.status_code == 200
        time.sleep(1.0)
        response = httpx.post(server.url + "/v2/models/lr/infer", json=body, headers=server.auth_headers)
        assert response.status_code == 200
        assert response.headers["x-shipyard-model-version"] == "1"
        assert "version 3 of lr failed to load" in server.log()
        assert "corrupt" in server.log()
        assert np.isfinite(response.json()["outputs"][1]["data"]).all()
