"""A peer's own virtualenv in benchmarks/.venvs/NAME: created once, reused while it imports what it must.

Peers never share the project's venv: each brings its own pinned dependencies. Every venv gets the
project's scikit-learn version, so a model pickled here loads there unchanged.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import sklearn
from processes import SetupError

from peers.base import VENVS, run_step

logger = logging.getLogger(__name__)

_VERSIONS_SCRIPT = (
    "import importlib.metadata as m, json, sys\n"
    "names = {d.metadata['Name'].lower(): d.version for d in m.distributions()}\n"
    "print(json.dumps({'python': sys.version.split()[0], **dict(sorted(names.items()))}))"
)


class Venv:
    """`candidates`: requirement lists tried in order until one installs; `probe` imports what the peer needs."""

    _checked: set[str] = set()  # probed fine in this run: several configurations share one venv

    def __init__(self, name: str, candidates: tuple[tuple[str, ...], ...], probe_imports: str) -> None:
        self.name = name
        self.path = VENVS / name
        self.candidates = candidates
        self.probe = f"import {probe_imports}, sklearn; print(sklearn.__version__)"

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment to run the venv's commands with: its bin first on PATH."""
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.path),
            **extra,
        }

    def ok(self) -> bool:
        if self.name in self._checked:
            return True
        if not self.python.exists():
            return False
        completed = subprocess.run([self.python, "-c", self.probe], capture_output=True, text=True, check=False)
        good = completed.returncode == 0 and completed.stdout.strip().splitlines()[-1:] == [sklearn.__version__]
        if good:
            self._checked.add(self.name)
        return good

    def ensure(self, log_dir: Path) -> None:
        if self.ok():
            return
        # Several processes (pytest workers, two benchmark runs) may want the same venv at once:
        # one builds it, the others wait and then find it built.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / f".{self.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.ok():
                return
            self._build(log_dir)

    def _build(self, log_dir: Path) -> None:
        log = log_dir / f"venv-{self.name}.log"
        system_python = shutil.which("python3")
        if system_python is None:
            raise SetupError(f"no python3 on PATH to create the {self.name} venv with")
        logger.info("creating the %s venv in %s (first run only; a few minutes)", self.name, self.path)
        if not self.python.exists():
            run_step(
                f"creating the {self.name} venv", [system_python, "-m", "venv", str(self.path)], timeout_s=120, log=log
            )
        pip = [str(self.python), "-m", "pip", "install", "--quiet"]
        for index, requirements in enumerate(self.candidates):
            try:
                run_step(
                    f"pip install {' '.join(requirements)}",
                    [*pip, *requirements, f"scikit-learn=={sklearn.__version__}"],
                    timeout_s=1500,
                    log=log,
                )
                break
            except SetupError:
                if index == len(self.candidates) - 1:
                    raise
                logger.warning("pip install %s failed; trying the next candidate", " ".join(requirements))
        if not self.ok():
            raise SetupError(
                f"the {self.name} venv does not import what it needs with scikit-learn {sklearn.__version__} (log: {log})"
            )

    def versions(self) -> dict[str, str]:
        """Python and every installed distribution of the venv."""
        completed = subprocess.run([self.python, "-c", _VERSIONS_SCRIPT], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            return {"error": completed.stderr.strip()[-200:]}
        return json.loads(completed.stdout)
