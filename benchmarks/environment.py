"""What a result file records about where it ran: the machine, the tree, and package versions."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def _git(*args: str) -> str | None:
    # Read-only git queries: which commit the numbers belong to.
    completed = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
    return completed.stdout.strip() if completed.returncode == 0 else None


def machine() -> dict[str, Any]:
    return {
        "time_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "loadavg_at_start": os.getloadavg(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "openblas_env": {key: value for key, value in os.environ.items() if key.startswith("OPENBLAS_")},
    }


def project_versions() -> dict[str, str]:
    """Python and every distribution of the project venv (the benchmark, in-process predict and Shipyard)."""
    installed = {dist.metadata["Name"].lower(): dist.version for dist in importlib.metadata.distributions()}
    return {"python": sys.version.split()[0], **dict(sorted(installed.items()))}
