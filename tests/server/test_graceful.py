"""Graceful timeouts below one second work as given, and the multi-worker parent stops on a
deadline of its own even when a worker does not."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer

STUCK = (
    b"POST /v2/models/lr/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n" + b'{"inputs": [' + b" " * 100
)


@pytest.fixture
def lr_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    svc = open_home(home)
    try:
        svc.registry.register("lr", LogisticRegression().fit(X, y), sample=X[:5], compile=False)
    finally:
        svc.close()
    return home


def _stuck_requests(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(STUCK)
        socks.append(sock)
    time.sleep(0.5)
    for sock in socks:  # the server holds them: no answer yet
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)
    return socks


SETTINGS = {
    "graceful_timeout_seconds": "0.3",
    "drain_seconds": "0",
    "body_timeout_seconds": "60",
    "open_inference": "*",
}


def test_subsecond_graceful_timeout_with_a_request_stuck_mid_body(lr_home: Path) -> None:
    server = LiveServer(lr_home, ["lr"], settings=SETTINGS)
    with server:
        socks = _stuck_requests(server.port, 1)
        started = time.monotonic()
        server.terminate()
        code = server.wait(timeout=15)
        elapsed = time.monotonic() - started
        for sock in socks:
            sock.close()
        assert code == 0
        assert elapsed < 2.5, f"exited after {elapsed:.1f}s with a 0.3s graceful timeout"


def test_zero_graceful_timeout_means_no_wait(lr_home: Path) -> None:
    server = LiveServer(lr_home, ["lr"], settings={**SETTINGS, "graceful_timeout_seconds": "0"})
    with server:
        socks = _stuck_requests(server.port, 1)
        started = time.monotonic()
        server.terminate()
        code = server.wait(timeout=15)
        elapsed = time.monotonic() - started
        for sock in socks:
            sock.close()
        assert code == 0
        assert elapsed < 2.0


def test_two_workers_subsecond_graceful_timeout(lr_home: Path) -> None:
    server = LiveServer(lr_home, ["lr"], settings={**SETTINGS, "workers": "2"})
    with server:
        socks = _stuck_requests(server.port, 6)
        started = time.monotonic()
        server.terminate()
        code = server.wait(timeout=20)
        elapsed = time.monotonic() - started
        for sock in socks:
            sock.close()
        assert code == 0
        assert elapsed < 3.0, f"exited after {elapsed:.1f}s with a 0.3s graceful timeout"


def _workers(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    out = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            out.append(int(child))
    return out


def test_parent_kills_a_worker_that_does_not_stop(lr_home: Path) -> None:
    server = LiveServer(lr_home, ["lr"], settings={**SETTINGS, "workers": "2"})
    with server:
        assert server.proc is not None
        deadline = time.monotonic() + 20
        while len(workers := _workers(server.proc.pid)) < 2:
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.1)
        os.kill(workers[0], signal.SIGSTOP)  # a worker that will never handle SIGTERM
        try:
            started = time.monotonic()
            server.terminate()
            code = server.wait(timeout=20)
            elapsed = time.monotonic() - started
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(workers[0], signal.SIGKILL)
        assert code == 0
        # drain 0 + graceful 0.3 + the parent's 2s margin
        assert elapsed < 5.0, f"parent exited after {elapsed:.1f}s"
        assert "killing them" in server.log()
        with pytest.raises(ProcessLookupError):
            for _ in range(50):
                os.kill(workers[0], 0)
                time.sleep(0.1)
