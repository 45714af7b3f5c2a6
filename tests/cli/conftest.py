"""CLI fixtures: a private SHIPYARD_HOME per test, a fitted model saved as files, and a runner.

Every test runs in its own ``tmp_path`` (also the working directory, so no stray
``shipyard.toml`` is read) with ``SHIPYARD_HOME`` pointing inside it.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from shipyard.cli.demo_traffic import ServerProcess
from shipyard.cli.main import cli


@dataclass(frozen=True)
class ModelFiles:
    model: LogisticRegression
    skops_path: Path
    pickle_path: Path
    sample_csv: Path
    training_csv: Path
    inputs: pd.DataFrame


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(path))
    monkeypatch.delenv("SHIPYARD_CONFIG", raising=False)
    monkeypatch.delenv("SHIPYARD_REGISTRY_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    import skops.io

    root = tmp_path_factory.mktemp("model-files")
    data = load_iris(as_frame=True)
    x = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = LogisticRegression(max_iter=300).fit(x, data.target)
    skops_path = root / "iris.skops"
    skops.io.dump(model, skops_path)
    pickle_path = root / "iris.pkl"
    pickle_path.write_bytes(pickle.dumps(model))
    sample_csv = root / "sample.csv"
    x.iloc[:5].to_csv(sample_csv, index=False)
    training_csv = root / "training.csv"
    x.assign(species=data.target).to_csv(training_csv, index=False)
    return ModelFiles(model, skops_path, pickle_path, sample_csv, training_csv, x.iloc[::15].reset_index(drop=True))


class Shipyard:
    """Runs ``shipyard`` in-process with click's runner, stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str]) -> Result:
        return self.runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def shipyard(home: Path) -> Shipyard:
    return Shipyard()


@pytest.fixture
def registered(shipyard: Shipyard, model_files: ModelFiles) -> str:
    """Model ``iris`` with version 1 registered from the skops file, with lineage."""
    result = shipyard(
        "models", "register", "iris", model_files.skops_path,
        "--training-data", model_files.training_csv, "--target", "species",
        "--metric", "accuracy=0.97", "--param", "max_iter=300", "--tag", "team=ml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return "iris"


def run_module(args: Sequence[str | os.PathLike[str]], *, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m shipyard ARGS`` in a real child process."""
    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture
def server(registered: str, home: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess.start([registered], home=home, log_path=tmp_path / "server.log")
    try:
        process.wait_ready(timeout=60)
        yield process
    finally:
        code, _ = process.stop()
        assert code == 0, process.log_tail()
