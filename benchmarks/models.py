"""The benchmark's data set, its two models and the request bodies every server is sent.

Everything here is deterministic: the same seed gives the same rows, the same models and the same
bytes on the wire, so runs on different days compare.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

N_FEATURES = 20
COLUMNS = [f"x{i}" for i in range(N_FEATURES)]


@dataclass(frozen=True)
class BenchModel:
    """One trained model and the name each server knows it by."""

    key: str  # "lr" / "rf": what --models takes
    title: str
    name: str  # the registered / served name
    estimator: Any

    def pickle_to(self, path: Path) -> Path:
        """Hand the fitted estimator to another interpreter with the same scikit-learn version."""
        path.write_bytes(pickle.dumps(self.estimator, protocol=pickle.HIGHEST_PROTOCOL))
        return path


def make_data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=10_000, n_features=20, n_informative=10, n_redundant=4, random_state=0)


_FACTORIES = {
    "lr": ("LogisticRegression", lambda: LogisticRegression(max_iter=1000)),
    "rf": ("RandomForest(100 trees, depth 10)", lambda: RandomForestClassifier(max_depth=10, random_state=0)),
}
MODEL_KEYS = tuple(_FACTORIES)


def train(keys: list[str], X: np.ndarray, y: np.ndarray) -> list[BenchModel]:
    models = []
    for key in keys:
        title, factory = _FACTORIES[key]
        models.append(BenchModel(key=key, title=title, name=f"bench-{key}", estimator=factory().fit(X, y)))
    return models


def request_rows(X: np.ndarray, rows: int) -> list[list[float]]:
    """The rows sent in one request: the first `rows` rows of the data set, as plain floats."""
    return X[:rows].astype(float).tolist()


def v2_body(rows: list[list[float]]) -> bytes:
    """Open Inference Protocol V2: one 2-D FP64 tensor, row-major."""
    flat = [value for row in rows for value in row]
    tensor = {"name": "input-0", "shape": [len(rows), N_FEATURES], "datatype": "FP64", "data": flat}
    return json.dumps({"inputs": [tensor]}).encode()


def dataframe_split_body(rows: list[list[float]]) -> bytes:
    """MLflow's native pandas "split" orientation."""
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}).encode()
