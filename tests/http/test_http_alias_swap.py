"""A served alias moves under concurrent load: no request fails; a broken version never serves."""

from __future__ import annotations

import os
import re
import signal
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
        # The move is stored, but the call says that this server does not follow it.
        assert moved.status_code == 503, moved.text
        assert moved.json()["code"] == "model_load_failed"
        assert "lr@production points at version 3, but not every worker follows" in moved.json()["error"]
        assert "lr@production serves version 1: version 3 failed to load" in moved.json()["error"]
        time.sleep(1.0)
        response = httpx.post(server.url + "/v2/models/lr/infer", json=body, headers=server.auth_headers)
        assert response.status_code == 200
        assert response.headers["x-shipyard-model-version"] == "1"
        assert "version 3 of lr failed to load" in server.log()
        assert "corrupt" in server.log()
        assert np.isfinite(response.json()["outputs"][1]["data"]).all()


def _timed_load(
    url: str, stop: threading.Event, results: list[tuple[float, str]], rows: list[float], auth: dict[str, str]
) -> None:
    """Requests on new connections (each may land on either worker), with the time each was sent."""
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": rows}]}
    while not stop.is_set():
        sent = time.monotonic()
        with httpx.Client(timeout=10, headers=auth) as client:
            response = client.post(url + "/v2/models/lr/infer", json=body)
        results.append((sent, response.headers.get("x-shipyard-model-version", str(response.status_code))))


def test_every_worker_follows_before_the_put_returns(tmp_path: Path, classification_data) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    build_registry(home, X, y)
    # A slow poll: only the acknowledgement can explain the other worker following in time.
    settings = {"workers": "2", "alias_poll_seconds": "30"}
    with LiveServer(home, ["lr@production"], settings=settings) as server:
        _all_ready(server)
        stop = threading.Event()
        results: list[tuple[float, str]] = []
        threads = [
            threading.Thread(target=_timed_load, args=(server.url, stop, results, X[i].tolist(), server.auth_headers))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            moved = httpx.put(
                server.url + "/api/models/lr/aliases/production",
                json={"version": 2},
                headers=server.auth_headers,
                timeout=60,
            )
            returned = time.monotonic()
            assert moved.status_code == 200, moved.text
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=20)
        before = Counter(version for sent, version in results if sent < returned)
        after = Counter(version for sent, version in results if sent > returned)
        assert before["1"] > 0, before
        assert after["2"] > 0 and set(after) == {"2"}, after
        # Each worker swapped once, and not at a poll (30 s away): when asked.
        assert server.log_path.read_text().count("lr@production now serves version 2 (was 1)") == 2


def _all_ready(server: LiveServer) -> None:
    """Wait for the parent's "ready" (LiveServer's check needs only one worker to answer)."""
    deadline = time.monotonic() + 60
    while "ready: 2 workers answering" not in server.log_path.read_text():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def _workers(parent: int) -> list[int]:
    """The worker processes of a multi-worker server (not multiprocessing's helpers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]


def test_a_worker_that_does_not_follow_fails_the_call(tmp_path: Path, classification_data) -> None:
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
    settings = {"workers": "2", "alias_poll_seconds": "30", "request_timeout_seconds": "3"}
    with LiveServer(home, ["lr@production"], settings=settings) as server:
        _all_ready(server)
        assert server.proc is not None
        workers = _workers(server.proc.pid)
        assert len(workers) == 2
        url = server.url + "/api/models/lr/aliases/production"

        # No worker can load version 3: the call says so for each of them.
        moved = httpx.put(url, json={"version": 3}, headers=server.auth_headers, timeout=60)
        assert moved.status_code == 503, moved.text
        error = moved.json()
        assert error["code"] == "model_load_failed"
        assert error["error"].startswith("lr@production points at version 3, but not every worker follows")
        for pid in workers:
            assert f"worker {pid}: lr@production serves version 1: version 3 failed to load" in error["error"]

        # A worker that does not answer (stopped) fails the call within the request timeout.
        os.kill(workers[1], signal.SIGSTOP)
        try:
            moved = httpx.put(url, json={"version": 2}, headers=server.auth_headers, timeout=60)
        finally:
            os.kill(workers[1], signal.SIGCONT)
        assert moved.status_code == 503, moved.text
        assert moved.json()["code"] == "unavailable"
        assert f"worker {workers[1]} did not answer within 3s" in moved.json()["error"]
        assert "the change is stored" in moved.json()["hint"]

        # Once it runs again it follows the request it was sent, well before its next poll.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if server.log_path.read_text().count("lr@production now serves version 2 (was 1)") == 2:
                break
            time.sleep(0.1)
        assert server.log_path.read_text().count("lr@production now serves version 2 (was 1)") == 2


def test_a_retired_version_answers_410_from_every_worker_once_the_call_returns(
    tmp_path: Path, classification_data
) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    build_registry(home, X, y)
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": X[0].tolist()}]}
    with LiveServer(home, ["lr/2"], settings={"workers": "2", "alias_poll_seconds": "30"}) as server:
        _all_ready(server)
        retired = httpx.post(
            server.url + "/api/models/lr/versions/2/retire", json={}, headers=server.auth_headers, timeout=60
        )
        assert retired.status_code == 200, retired.text
        statuses = []
        for _ in range(20):  # new connections: both workers answer some
            with server.client(timeout=10) as client:
                statuses.append(client.post("/v2/models/lr/infer", json=body).status_code)
        assert statuses == [410] * 20


def test_a_dead_worker_is_skipped_and_its_replacement_serves_the_new_version(
    tmp_path: Path, classification_data
) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    build_registry(home, X, y)
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": X[0].tolist()}]}
    with LiveServer(home, ["lr@production"], settings={"workers": "2", "alias_poll_seconds": "30"}) as server:
        _all_ready(server)
        assert server.proc is not None
        dead = _workers(server.proc.pid)[1]
        os.kill(dead, signal.SIGKILL)  # its socket stays behind, with nobody listening
        moved = httpx.put(
            server.url + "/api/models/lr/aliases/production",
            json={"version": 2},
            headers=server.auth_headers,
            timeout=60,
        )
        assert moved.status_code == 200, moved.text
        deadline = time.monotonic() + 60
        while not re.search(r"worker \d+ ready", server.log_path.read_text()):  # the replacement
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        versions = []
        for _ in range(20):  # new connections: both workers answer some
            with server.client(timeout=10) as client:
                versions.append(client.post("/v2/models/lr/infer", json=body).headers["x-shipyard-model-version"])
        assert versions == ["2"] * 20
