"""Server processes: free ports, start in their own process group, wait until ready, stop for sure.

Every server runs in a new session, so stopping it signals its whole process group (uvicorn workers,
mlflow's child server); children that start their own session (BentoML's workers) are found through
their parent, counted in the server's CPU and stopped too, so nothing is left behind on exit or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class SetupError(RuntimeError):
    """Raised when a server or tool the benchmark needs cannot be set up; the message is one line for the user."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_status(
    url: str, *, body: bytes | None = None, timeout: float = 2.0, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    """GET (or POST a JSON body to) `url`, with extra `headers` (an API key); (0, b"") when nothing answers."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _proc_table() -> dict[int, tuple[int, int, int, int]]:
    """pid -> (parent pid, process group, user + system CPU ticks, start time) of every live process, from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after its closing one.
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is state (field 3 of stat(5)): ppid is field 4, pgrp 5, utime 14, stime 15, starttime 22.
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]), int(fields[19]))
    return table


def _members(root: int, table: dict[int, tuple[int, int, int, int]]) -> set[int]:
    """The root's process group and every descendant, including those that moved to their own session
    (BentoML starts its service workers with setsid)."""
    members = {pid for pid, (_, pgid, _, _) in table.items() if pgid == root}
    frontier = set(members) | {root}
    while frontier:
        children = {pid for pid, (ppid, _, _, _) in table.items() if ppid in frontier and pid not in members}
        members |= children
        frontier = children
    return members


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of the live processes in `root`'s process group and process tree."""
    table = _proc_table()
    return sum(table[pid][2] for pid in _members(root, table)) / _CLK_TCK


def tree_pids(root: int) -> list[int]:
    """The live pids of `root`'s process group and process tree, sorted."""
    return sorted(_members(root, _proc_table()))


def tree_processes(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of the root's group and tree: the start time tells a reused pid apart."""
    table = _proc_table()
    return {(pid, table[pid][3]) for pid in _members(root, table)}


def live_processes() -> set[tuple[int, int]]:
    return {(pid, row[3]) for pid, row in _proc_table().items()}


class ServerProcess:
    """One server, started by `start()` and stopped (with its children) by `stop()`."""

    def __init__(self, label: str, argv: list[str], *, env: Mapping[str, str], cwd: Path, log_path: Path) -> None:
        self.label = label
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.label} is not running")
        return self._proc.pid

    def start(self) -> None:
        logger.debug("starting %s: %s", self.label, " ".join(self.argv))
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, url: str, *, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise SetupError(f"{self.label} exited with code {self._proc.returncode}: {self.log_tail()}")
            status, _ = http_status(url, timeout=1.0)
            if status == 200:
                return
            time.sleep(0.25)
        raise SetupError(f"{self.label} was not ready at {url} within {deadline_s:.0f} s: {self.log_tail()}")

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def log_tail(self, lines: int = 3) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return " | ".join(tail) + f" (log: {self.log_path})"

    def stop(self, grace_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        tree = tree_processes(proc.pid)  # with children outside the group, which the group signal misses
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                logger.warning("%s ignored %s", self.label, sig.name)
        # The leader may be gone while its workers live on: make sure the group and the tree are empty.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, _ in tree & live_processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
