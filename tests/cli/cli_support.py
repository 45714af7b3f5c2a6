"""Helpers for the CLI tests: the model files they register, and two ways to run ``shipyard``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from click.testing import CliRunner, Result
from sklearn.linear_model import LogisticRegression

from shipyard.cli.main import cli


@dataclass(frozen=True)
class ModelFiles:
    model: LogisticRegression
    skops_path: Path
    pickle_path: Path
    sample_csv: Path
    training_csv: Path
    inputs: pd.DataFrame


class Shipyard:
    """Runs ``shipyard`` in-process with click's runner, stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str]) -> Result:
        return self.runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run_module(
    args: Sequence[str | os.PathLike[str]], *, home: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m shipyard ARGS`` in a real child process."""
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
