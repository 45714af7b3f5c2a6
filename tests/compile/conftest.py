"""Fixtures for the compiled-runtime tests: data sets split into training and held-out rows,
a private registry, and a private SHIPYARD_HOME for the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from compile_support import Shipyard, Split, split
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification

from homes import open_home
from shipyard.bootstrap import Services


@pytest.fixture(scope="session")
def cancer() -> Split:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return split(X, y)


@pytest.fixture(scope="session")
def iris_named() -> Split:
    X, y = load_iris(return_X_y=True)
    return split(X, np.array(["setosa", "versicolor", "virginica"], dtype=object)[y])


@pytest.fixture(scope="session")
def diabetes() -> Split:
    X, y = load_diabetes(return_X_y=True)
    return split(X, y)


@pytest.fixture(scope="session")
def synthetic() -> Split:
    X, y = make_classification(n_samples=1500, n_features=12, n_informative=6, n_classes=3, random_state=0)
    return split(X, y)


@pytest.fixture(scope="session")
def mixed() -> Split:
    """Numeric columns with missing values and two text columns: for column transformers."""
    rng = np.random.default_rng(1)
    n = 1200
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(1),
            "income": rng.lognormal(10, 0.6, n),
            "score": rng.normal(0, 1, n),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n),
            "plan": rng.choice(["free", "pro", "team"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    logit = 0.05 * (frame.age - 40) + frame.score + (frame.city == "paris") * 0.8 - (frame.plan == "free") * 0.5
    y = (logit + rng.normal(0, 0.5, n) > 0).astype(np.int64)
    return split(frame, pd.Series(y))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_home(tmp_path / "home")
    yield svc
    svc.close()


@pytest.fixture
def shipyard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shipyard:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    for name in ("SHIPYARD_CONFIG", "SHIPYARD_REGISTRY_URL", "SHIPYARD_ARTIFACTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Shipyard()
