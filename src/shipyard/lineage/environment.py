"""What a model was built with: Python, platform, library versions and the code's commit.

Versions come from installed distribution metadata, never from importing the libraries:
recording lineage must not cost the import time (or the side effects) of onnxruntime,
xgboost and friends.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

# Key in the result -> distribution names that provide it (the first installed wins).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pandas": ("pandas",),
    "scikit-learn": ("scikit-learn",),
    "skops": ("skops",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "lightgbm": ("lightgbm",),
    "shipyard": ("shipyard",),
}
GIT_TIMEOUT_SECONDS = 10.0
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _version(*distributions: str) -> str | None:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _module_version(module: str) -> str | None:
    """The version of the distribution that provides an importable module name."""
    found = _version(module)
    if found is not None:
        return found
    top_level = module.split(".", maxsplit=1)[0]
    return _version(*metadata.packages_distributions().get(top_level, ()))


def environment(extra_modules: Iterable[str] = ()) -> dict[str, str]:
    """Python, platform and installed library versions (missing libraries are left out).

    ``extra_modules`` are further module or distribution names to record.
    """
    env = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    for key, distributions in LIBRARIES.items():
        found = _version(*distributions)
        if found is not None:
            env[key] = found
    for module in extra_modules:
        if module in env:
            continue
        found = _module_version(module)
        if found is not None:
            env[module] = found
        else:
            logger.debug("no installed distribution provides %r", module)
    return env


def _git(git: str, where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # --no-optional-locks: recording lineage must never write the index of someone's repo.
    return subprocess.run(
        [git, "--no-optional-locks", "-C", str(where), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )


def code_version(path: Path | None = None) -> str | None:
    """The git commit of the repository containing ``path`` (default: cwd), ``+dirty`` if changed.

    Returns None outside a repository, without git, or on any failure; never raises.
    """
    try:
        where = Path(path) if path is not None else Path.cwd()
        if not where.is_dir():
            where = where.parent
        git = shutil.which("git")
        if git is None or not where.is_dir():
            return None
        head = _git(git, where, "rev-parse", "HEAD")
        commit = head.stdout.strip()
        if head.returncode != 0 or not _COMMIT.match(commit):
            return None
        status = _git(git, where, "status", "--porcelain")
        if status.returncode != 0:
            logger.debug("git status failed in %s; recording the commit without a dirty flag", where)
            return commit
        return f"{commit}+dirty" if status.stdout.strip() else commit
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        logger.debug("cannot read the git commit: %s", exc)
        return None
