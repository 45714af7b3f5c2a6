"""A real Shipyard server in a subprocess on a free loopback port, for tests that talk HTTP.

Before it starts, an admin API key is created in its home (``server.api_key``); talk to it
with ``server.client()`` (an ``httpx.Client`` sending the key) or ``headers=server.auth_headers``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

LAUNCH = (
    "import sys\n"
    "from shipyard.config import Settings\n"
    "from shipyard.http.server import serve\n"
    "from shipyard.registry.refs import parse_ref\n"
    "serve(Settings.load(), [parse_ref(r) for r in sys.argv[1:]])\n"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortTaken(RuntimeError):
    """Between ``free_port`` and the server's bind, another process took the port."""


def _listening_inodes(port: int) -> set[str] | None:
    """Inodes of the sockets listening on ``port`` (None where /proc does not tell)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def _holds_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port`` (True where /proc does not tell)."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return True
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
        except OSError:
            continue
    return False


def create_key(
    home: Path,
    role: str = "admin",
    models: Sequence[str] = ("*",),
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """A new API key in ``home``'s registry (or the one ``env`` names); returns its token."""
    from shipyard.bootstrap import open_services
    from shipyard.config import Settings
    from shipyard.governance.keys import make_grants

    services = open_services(Settings.load(env={**(env or {}), "SHIPYARD_HOME": str(home)}))
    try:
        _, token = services.keys.create(
            name or f"test-{role}-{os.urandom(3).hex()}", make_grants([role], models), created_by="user:test"
        )
    finally:
        services.close()
    return token


class LiveServer:
    """``with LiveServer(home, ["iris@production"]) as server: server.client().get("/v2")``."""

    def __init__(
        self,
        home: Path,
        refs: Sequence[str],
        *,
        settings: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        self.home = home
        self.refs = list(refs)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = dict(settings or {})
        self.extra_env = dict(env or {})
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / f"server-{self.port}.log"
        self.api_key: str | None = None

    @property
    def auth_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <admin key>``."""
        assert self.api_key is not None, "start the server first"
        return {"Authorization": f"Bearer {self.api_key}"}

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on this server that sends the admin key."""
        headers = {**self.auth_headers, **dict(kwargs.pop("headers", None) or {})}
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    def start(self) -> LiveServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        env.update({"SHIPYARD_HOME": str(self.home), "SHIPYARD_PORT": str(self.port), "SHIPYARD_HOST": "127.0.0.1"})
        # One worker unless a test asks for more: quicker to start, and its state is one process's.
        env["SHIPYARD_WORKERS"] = "1"
        # No gRPC listener unless a test asks for one (parallel servers on 8081 would collide).
        env["SHIPYARD_GRPC_PORT"] = "0"
        env.update({f"SHIPYARD_{k.upper()}": v for k, v in self.settings.items()})
        env.update(self.extra_env)
        self._env = env
        if self.api_key is None:
            self.api_key = create_key(self.home, env={k: v for k, v in env.items() if k.startswith("SHIPYARD_")})
        # free_port() is only a guess: a server of a parallel test may bind the port first.
        # Then this one fails to bind, or (worse) the other one answers our readiness check;
        # either way start again on another port.
        for attempt in range(4):
            self._log = self.log_path.open("wb")
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, *self.refs], env=env, stdout=self._log, stderr=subprocess.STDOUT
            )
            try:
                self.wait_ready()
                return self
            except RuntimeError as exc:
                # A server that never got ready is stopped here: __exit__ does not run for it.
                retry = isinstance(exc, PortTaken) or "already in use" in self.log().lower()
                self.stop()
                if attempt == 3 or not retry:
                    raise
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.log_path = self.home / f"server-{self.port}.log"
            env["SHIPYARD_PORT"] = str(self.port)
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1.0).status_code == 200:
                    if not _holds_listener(self.proc.pid, self.port):
                        raise PortTaken(f"another process answers on port {self.port}")
                    # Several workers: one answering is not all of them; the parent says when.
                    if self._workers() <= 1 or "workers answering on" in self.log_path.read_text(errors="replace"):
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {self.ready_timeout}s:\n{self.log()}")

    def _workers(self) -> int:
        raw = self._env.get("SHIPYARD_WORKERS", "1")
        return int(raw) if raw.isdigit() else 1

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
