"""The demo's moving parts: a ``shipyard serve`` child process on a loopback port, and a
bounded concurrent client that records which version answered each request.

Everything here is bounded: the server gets a fixed time to become ready and to exit, the
load runs a fixed number of threads for a fixed time, and every request has a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shipyard.errors import ShipyardError, Unavailable

LOOPBACK = "127.0.0.1"
VERSION_HEADER = "x-shipyard-model-version"
VARIANT_HEADER = "x-shipyard-variant"


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A ``python -m shipyard serve`` child; its logs go to ``log_path``, not our terminal."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @classmethod
    def start(
        cls,
        refs: list[str],
        *,
        home: Path,
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        settings: dict[str, str] | None = None,
    ) -> ServerProcess:
        """``settings``: extra ``SHIPYARD_*`` environment for the server (name → value)."""
        port = free_port()
        env = {**os.environ, "SHIPYARD_HOME": str(home), **(settings or {})}
        # The demo talks HTTP only: no gRPC port to collide with a server already running.
        command = [sys.executable, "-m", "shipyard", "serve", *refs, "--host", LOOPBACK, "--port", str(port)]
        command += ["--grpc-port", "0"]
        with log_path.open("wb") as log:
            process = subprocess.Popen([*command, *extra_args], env=env, stdout=log, stderr=subprocess.STDOUT)
        return cls(process, f"http://{LOOPBACK}:{port}", log_path)

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds until ``/v2/health/ready`` answered 200; Unavailable if it never did."""
        started = time.monotonic()
        deadline = started + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise Unavailable(
                        f"the server exited with code {self.process.returncode} before it was ready",
                        hint=f"its log: {self.log_path}",
                    )
                try:
                    if http.get("/v2/health/ready").status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise Unavailable(f"the server was not ready after {timeout:.0f} s", hint=f"its log: {self.log_path}")

    def stop(self, timeout: float = 20.0) -> tuple[int, float]:
        """SIGTERM, then wait for the exit: ``(exit code, seconds taken)``; killed if it hangs."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode, time.monotonic() - started

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Answer:
    at: float
    """Seconds since the load started, when the request was sent."""
    latency: float
    version: int | None
    error: str | None = None
    variant: str | None = None
    """The deployment variant that answered (``X-Shipyard-Variant``), if any."""


@dataclass
class LoadResult:
    answers: list[Answer] = field(default_factory=list)
    switched_at: float | None = None
    switch_seconds: float = 0.0
    """How long the switch call took (the server loads the new version before answering)."""
    switch_error: str | None = None
    duration: float = 0.0

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.error is not None]

    def by_version(self, version: int) -> list[Answer]:
        return [a for a in self.answers if a.error is None and a.version == version]

    def latency_percentile(self, q: float) -> float:
        latencies = sorted(a.latency for a in self.answers if a.error is None)
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))]


def run_load(
    url: str,
    path: str,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    workers: int,
    seconds: float,
    switch_after: float,
    switch: Callable[[], None],
) -> LoadResult:
    """``workers`` threads POST ``body`` to ``path`` for ``seconds``; ``switch`` runs once,
    ``switch_after`` seconds in, while they do."""
    result = LoadResult()
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def worker() -> None:
        answers: list[Answer] = []
        with httpx.Client(base_url=url, timeout=10.0, headers=headers) as http:
            while (sent := time.monotonic()) < deadline:
                try:
                    response = http.post(path, json=body)
                    latency = time.monotonic() - sent
                    header = response.headers.get(VERSION_HEADER)
                    error = None if response.status_code == 200 else f"HTTP {response.status_code}"
                    version = int(header) if header and header.isdigit() else None
                    variant = response.headers.get(VARIANT_HEADER)
                except httpx.HTTPError as exc:
                    latency, version, error, variant = time.monotonic() - sent, None, type(exc).__name__, None
                answers.append(Answer(sent - started, latency, version, error, variant))
        with lock:
            result.answers.extend(answers)

    threads = [threading.Thread(target=worker, name=f"demo-load-{i}", daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, started + switch_after - time.monotonic()))
    result.switched_at = time.monotonic() - started
    try:
        switch()
    except ShipyardError as exc:
        result.switch_error = exc.message
    result.switch_seconds = time.monotonic() - started - result.switched_at
    for thread in threads:
        thread.join(timeout=seconds + 15)
    result.duration = time.monotonic() - started
    result.answers.sort(key=lambda a: a.at)
    return result
