"""Evidently 0.7 in its own venv (benchmarks/.venvs/evidently, shared with `make bench`), run on frames.

The venv is created on first use with the benchmark's `Venv` class (pinned `evidently==0.7.*`,
`pandas<3`); when it cannot be created, the parity tests skip with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
SCRIPT = BENCHMARKS / "scripts" / "evidently_drift.py"


def evidently_python(log_dir: Path) -> tuple[Path | None, str]:
    """The venv's python, or None and why it is not there."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    try:
        from peers.evidently import VENV

        VENV.ensure(log_dir)
    except Exception as exc:  # SetupError and whatever pip did
        return None, f"the Evidently venv cannot be created: {exc}"
    return VENV.python, ""


def run_evidently(
    python: Path, workdir: Path, cases: list[tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Evidently's DataDriftPreset results for each (reference, current, options), in one process."""
    manifest = []
    for index, (reference, current, options) in enumerate(cases):
        ref_path, cur_path = workdir / f"ref{index}.parquet", workdir / f"cur{index}.parquet"
        reference.to_parquet(ref_path, index=False)
        current.to_parquet(cur_path, index=False)
        manifest.append({"reference": str(ref_path), "current": str(cur_path), "options": options})
    manifest_path = workdir / "cases.json"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    completed = subprocess.run(
        [str(python), str(SCRIPT), str(manifest_path)], capture_output=True, text=True, timeout=900, check=False
    )
    if completed.returncode != 0:
        raise AssertionError(f"the Evidently runner failed: {completed.stderr[-2000:]}")
    results: list[dict[str, Any]] = json.loads(completed.stdout)
    return results
