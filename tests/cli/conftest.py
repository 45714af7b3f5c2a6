"""CLI fixtures: a private SHIPYARD_HOME per test, a fitted model saved as files, and a runner.

Every test runs in its own ``tmp_path`` (also the working directory, so no stray
``shipyard.toml`` is read) with ``SHIPYARD_HOME`` pointing inside it.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import ModelFiles, Shipyard
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from live_server import create_key
from shipyard.cli.demo_traffic import ServerProcess


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


@pytest.fixture
def server(registered: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    monkeypatch.setenv("SHIPYARD_API_KEY", create_key(home))
    process = ServerProcess.start([registered], home=home, log_path=tmp_path / "server.log")
    try:
        process.wait_ready(timeout=60)
        yield process
    finally:
        code, _ = process.stop()
        assert code == 0, process.log_tail()
