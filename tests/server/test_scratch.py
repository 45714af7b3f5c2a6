"""Scratch directories live under $SHIPYARD_HOME/tmp: a server removes its own (extracted
Python-class models included) on a graceful stop, and those of dead processes at start."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import httpx
import numpy as np

from homes import open_home
from live_server import LiveServer

MODEL = """
import numpy as np


class Doubler:
    def predict(self, X):
        return np.asarray(X, dtype=float)[:, 0] * 2
"""


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_pyclass_extraction_is_under_home_and_removed_on_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = tmp_path / "doubler.py"
    code.write_text(MODEL)
    svc = open_home(home)
    try:
        svc.registry.register("doubler", code, sample=np.array([[1.0]]), trust_code=True)
    finally:
        svc.close()
    tmp = home / "tmp"
    dead = _dead_pid()
    stale = [tmp / f"pyclass-{dead}-abc123", tmp / f"metrics-{dead}-xyz789", tmp / f"register-{dead}-q1w2e3"]
    for path in stale:
        path.mkdir(parents=True)
        (path / "file").write_text("left by a kill -9")
    foreign = tmp / "not-ours"
    foreign.mkdir()

    server = LiveServer(home, ["doubler"], settings={"graceful_timeout_seconds": "2"})
    with server:
        assert server.proc is not None
        body = {"inputs": [{"name": "x0", "shape": [1], "datatype": "FP64", "data": [3.0]}]}
        answer = httpx.post(server.url + "/v2/models/doubler/infer", json=body, timeout=10)
        assert not any(path.exists() for path in stale), "stale scratch directories were not removed at start"
        assert foreign.is_dir(), "a directory not named like a scratch directory must be left alone"
        extracted = sorted(tmp.glob(f"pyclass-{server.proc.pid}-*"))
        assert len(extracted) == 1, sorted(tmp.iterdir())
        server.terminate()
        assert server.wait(timeout=30) == 0
    if answer.status_code == 200:
        assert answer.json()["outputs"][0]["data"] == [6.0]
    assert not extracted[0].exists(), "the extraction directory outlived a graceful stop"
    assert sorted(p.name for p in tmp.iterdir()) == ["not-ours"]


def test_worker_metrics_directory_is_under_home_and_removed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_home(home).close()
    server = LiveServer(home, [], settings={"workers": "2"})
    with server:
        assert server.proc is not None
        metrics = sorted((home / "tmp").glob(f"metrics-{server.proc.pid}-*"))
        assert len(metrics) == 1
        server.terminate()
        assert server.wait(timeout=30) == 0
    assert not metrics[0].exists()


def test_workers_socket_directory_is_private_and_removed_and_stale_ones_go(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_home(home).close()
    root = Path(tempfile.gettempdir())
    stale = root / f"shipyard-peers-{_dead_pid()}-test"  # left by a server killed with SIGKILL
    stale.mkdir()
    (stale / "1.sock").touch()
    server = LiveServer(home, [], settings={"workers": "2"})
    with server:
        assert server.proc is not None
        mine = sorted(root.glob(f"shipyard-peers-{server.proc.pid}-*"))
        assert len(mine) == 1
        assert mine[0].stat().st_mode & 0o777 == 0o700
        assert not stale.exists()
        server.terminate()
        assert server.wait(timeout=30) == 0
    assert not mine[0].exists()
