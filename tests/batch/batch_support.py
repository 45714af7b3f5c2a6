"""Helpers for the batch scoring tests: the models' data, input files, and running ``shipyard score``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner, Result

from shipyard.cli.main import cli

FEATURES = ["a", "b", "c", "d"]


def numeric_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    """Rows for ``lr``: four float columns."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)


def mixed_frame(rows: int, seed: int = 2) -> pd.DataFrame:
    """Rows for ``mixed``: a nullable float ``x``, an int64 ``n`` and a text ``color``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.1] = np.nan
    x[1 % rows] = np.nan  # in the registration sample (the first rows): the signature says nullable
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 50, size=rows).astype(np.int64),
            "color": rng.choice(["red", "green", "blue"], size=rows).astype(object),
        }
    )


@dataclass(frozen=True)
class ScoringHome:
    """A SHIPYARD_HOME with ``lr`` and ``mixed`` registered, and the fitted models."""

    path: Path
    lr: Any
    mixed: Any


class Shipyard:
    """``shipyard --home HOME ...`` in this process, stdout and stderr kept apart."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str]) -> Result:
        return self.runner.invoke(cli, ["--home", str(self.home), *map(str, args)], catch_exceptions=False)

    def score(self, *args: str | os.PathLike[str]) -> dict[str, Any]:
        """``score ... --json``, which must succeed; its summary."""
        result = self("score", *args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary


def score_command(home: Path, *args: str | os.PathLike[str]) -> list[str]:
    """The argv of ``python -m shipyard --home HOME score ARGS`` in a child process."""
    return [sys.executable, "-m", "shipyard", "--home", str(home), "score", *map(str, args)]


def run_child(argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def write_parquet(frame: pd.DataFrame, path: Path, *, row_group_rows: int | None = None) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_rows)
    return path


def read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def assert_one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("hint: ")), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
