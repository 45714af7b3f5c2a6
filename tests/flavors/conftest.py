"""Fixtures for the flavor tests: bundled data sets, small trained models, a round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from shipyard.flavors import catalog
from shipyard.flavors.base import LoadedModel, LoadOptions, SavedModel

RoundTrip = Callable[..., tuple[SavedModel, LoadedModel]]


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def iris_named_labels(iris: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.array(["setosa", "versicolor", "virginica"])[iris[1]]


@pytest.fixture(scope="session")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    return X, y


@pytest.fixture(scope="session")
def customers() -> tuple[pd.DataFrame, np.ndarray]:
    """A small table with a categorical column, as churn-like data looks."""
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n).astype(np.float64),
            "charges": rng.normal(70, 20, n),
            "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
        }
    )
    churn = ((frame["tenure"] < 12) | (frame["plan"] == "basic")).to_numpy().astype(np.int64)
    return frame, churn


@pytest.fixture
def roundtrip(tmp_path: Path) -> RoundTrip:
    """Save a live object in its safe format, detect the file, load it back."""

    def run(obj: Any, *, trusted_types: tuple[str, ...] = (), **options: Any) -> tuple[SavedModel, LoadedModel]:
        flavor = catalog.for_object(obj)
        saved = flavor.save(obj, tmp_path / "saved", trusted_types=trusted_types)
        detected = catalog.detect(saved.path)
        assert detected.name == saved.flavor == flavor.name
        load_options = LoadOptions(trusted_types=saved.trusted_types, metadata=dict(saved.metadata), **options)
        return saved, detected.load(saved.path, load_options)

    return run
