"""``shipyard serve`` as a user starts it: its help, its start-up lines, a port in use."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_support import Shipyard, run_module

from live_server import free_port


def test_help_shows_the_built_in_defaults(shipyard: Shipyard) -> None:
    result = shipyard("serve", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for shown in (
        "Address to listen on. [default: 127.0.0.1]",
        "[default: 8080]",
        "(0 turns it off). [default: 8081]",
        "[default: one per CPU core]",
        "[default: auto]",
        "call. [default: on]",
        "[default: 256]",
        "[default: 5.0]",
        "[default: 10.0]",
    ):
        assert shown in text, shown


def _messages(lines: list[str]) -> list[str]:
    """The log lines' messages (JSON logs) and the plain lines, in order."""
    found = []
    for line in lines:
        try:
            found.append(str(json.loads(line)["msg"]))
        except (ValueError, KeyError, TypeError):
            found.append(line.strip())
    return found


def _serve(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard", "serve", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _until_ready(proc: subprocess.Popen[str]) -> list[str]:
    """Output lines up to the "ready" line (or the end, if the server exits)."""
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if _messages([line])[0].startswith("ready:"):
            break
    return _messages(lines)


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.terminate()
        proc.communicate(timeout=60)


@pytest.mark.parametrize("workers", ["1", "2"], ids=["one-process", "two-workers"])
def test_ready_is_said_once_requests_are_answered(
    registered: str, home: Path, stopped: list[subprocess.Popen[str]], workers: str
) -> None:
    port = free_port()
    proc = _serve(home, registered, "--port", str(port), "--workers", workers)
    stopped.append(proc)
    messages = _until_ready(proc)
    assert messages[-1].startswith("ready:"), messages
    # Answered on the first try: no retry, no "connection refused" after "ready".
    assert httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=10).status_code == 200
    if workers == "1":
        assert messages[-1] == f"ready: answering on http://127.0.0.1:{port} (iris)"
    else:
        assert messages[-1] == f"ready: 2 workers answering on http://127.0.0.1:{port}"
    assert not any(m.startswith("Uvicorn running") for m in messages), messages
    # Each process logs what it loaded, before "ready".
    loaded = [m for m in messages if m.startswith("loaded iris/1 (sklearn, runtime ")]
    assert len(loaded) == int(workers), messages


def test_bare_name_says_which_version_it_pinned(
    registered: str, home: Path, shipyard: Shipyard, stopped: list[subprocess.Popen[str]]
) -> None:
    proc = _serve(home, registered, "--port", str(free_port()), "--workers", "1")
    stopped.append(proc)
    messages = _until_ready(proc)
    assert messages[0] == (
        "note: serving iris/1, the latest version of iris, until restart; to follow an alias instead, "
        "set one (shipyard models alias iris production 1) and serve iris@production"
    )
    assert shipyard("models", "alias", "iris", "staging", "1").exit_code == 0
    result = run_module(["serve", registered, "--port", str(_busy_port()), "--workers", "1"], home=home)
    assert result.stderr.splitlines()[0] == (
        "note: serving iris/1, the latest version of iris, until restart; "
        "serve iris@staging to follow an alias instead (staging -> 1)"
    )


_held: list[socket.socket] = []


def _busy_port() -> int:
    """A port another socket listens on for the rest of the session."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    _held.append(sock)
    return int(sock.getsockname()[1])


@pytest.mark.parametrize("workers", ["1", "2"], ids=["one-process", "two-workers"])
def test_port_in_use_is_one_line_and_exit_14(registered: str, home: Path, workers: str) -> None:
    port = _busy_port()
    result = run_module(["serve", f"{registered}/1", "--port", str(port), "--workers", workers], home=home)
    assert result.returncode == 14, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: 127.0.0.1:{port} is already in use by another process",
        f"hint: stop the other server (`ss -ltnp 'sport = :{port}'` shows it), "
        "or serve on another port with --port or SHIPYARD_PORT",
    ], result.stderr
    assert "loaded" not in result.stdout + result.stderr  # refused before any model loads


def test_an_address_that_cannot_be_bound_is_a_config_error(registered: str, home: Path) -> None:
    result = run_module(["serve", f"{registered}/1", "--host", "192.0.2.1", "--port", "0"], home=home)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: cannot listen on 192.0.2.1:0: "), result.stderr
