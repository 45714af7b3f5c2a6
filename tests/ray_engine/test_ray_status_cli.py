"""``shipyard status`` refuses what it cannot ask, in one line and a non-zero exit, before any
connection to Ray is tried."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.serve")

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHIPYARD, "status", *args], capture_output=True, text=True, timeout=60, check=False)


def test_status_needs_an_engine() -> None:
    result = _status()
    assert result.returncode == 2
    assert "--engine" in result.stderr


def test_status_refuses_an_unknown_engine() -> None:
    result = _status("--engine", "kubernetes")
    assert result.returncode == 2
    assert "Invalid value for '--engine': 'kubernetes'" in result.stderr


def test_status_cannot_reach_a_local_ray() -> None:
    result = _status("--engine", "ray", "--address", "local")
    assert result.returncode == 2
    assert "a local Ray lives inside its `shipyard serve`" in result.stderr


def test_status_refuses_an_address_ray_does_not_take() -> None:
    result = _status("--engine", "ray", "--address", "http://head:6379")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == "error: unknown Ray address 'http://head:6379'"
    assert "Traceback" not in result.stderr
