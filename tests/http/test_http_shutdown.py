"""Graceful shutdown: readiness turns 503, in-flight requests finish, the process exits in time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np

from homes import open_home
from live_server import LiveServer

SLOW_MODEL = '''
import time

import numpy as np


class SlowModel:
    """Sleeps for as many seconds as its first input says."""

    def predict(self, X):
        time.sleep(float(X[0, 0]))
        return np.asarray(X, dtype=float)[:, 0]
'''


def _register_slow(home: Path) -> None:
    code = home.parent / "slow_model.py"
    code.write_text(SLOW_MODEL)
    svc = open_home(home)
    try:
        svc.registry.register("slow", code, sample=np.array([[0.0]]), trust_code=True)
    finally:
        svc.close()


def _infer(url: str, seconds: float, out: list[httpx.Response | Exception], auth: dict[str, str]) -> None:
    body = {"inputs": [{"name": "x0", "shape": [1], "datatype": "FP64", "data": [seconds]}]}
    try:
        out.append(httpx.post(url + "/v2/models/slow/infer", json=body, timeout=30, headers=auth))
    except Exception as exc:
        out.append(exc)


def test_sigterm_drains_then_finishes_in_flight(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _register_slow(home)
    server = LiveServer(home, ["slow"], settings={"drain_seconds": "1.5", "graceful_timeout_seconds": "10"})
    with server:
        results: list[httpx.Response | Exception] = []
        worker = threading.Thread(target=_infer, args=(server.url, 2.5, results, server.auth_headers))
        worker.start()
        time.sleep(0.5)
        started = time.monotonic()
        server.terminate()
        time.sleep(0.2)
        ready = httpx.get(server.url + "/v2/health/ready", timeout=5, headers=server.auth_headers)
        assert ready.status_code == 503
        assert ready.json() == {"ready": False}
        worker.join(timeout=30)
        assert server.wait(timeout=30) == 0
        elapsed = time.monotonic() - started
        assert len(results) == 1 and isinstance(results[0], httpx.Response), results
        assert results[0].status_code == 200
        assert results[0].json()["outputs"][0]["data"] == [2.5]
        assert elapsed < 15
        assert "shutdown requested" in server.log()


def test_graceful_timeout_bounds_the_wait(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _register_slow(home)
    server = LiveServer(home, ["slow"], settings={"drain_seconds": "0", "graceful_timeout_seconds": "1"})
    with server:
        results: list[httpx.Response | Exception] = []
        worker = threading.Thread(target=_infer, args=(server.url, 20.0, results, server.auth_headers))
        worker.start()
        time.sleep(0.5)
        started = time.monotonic()
        server.terminate()
        code = server.wait(timeout=15)
        elapsed = time.monotonic() - started
        worker.join(timeout=30)
        assert elapsed < 8, f"exited after {elapsed:.1f}s with a 1s graceful timeout"
        assert code == 0
