"""The benchmark's data set, its models and the request bodies every server is sent.

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
import onnx_export
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

N_FEATURES = 20
COLUMNS = [f"x{i}" for i in range(N_FEATURES)]


@dataclass(frozen=True)
class BenchModel:
    """One trained model and the name each server knows it by."""

    key: str  # "lr" / "rf" / "rf-onnx": what --models takes
    title: str
    name: str  # the registered / served name
    estimator: Any  # anything with predict(X): a fitted scikit-learn model, or an onnx_export.OnnxPredictor
    onnx: bytes | None = None  # the serialized graph, for ONNX models

    @property
    def is_onnx(self) -> bool:
        return self.onnx is not None

    def pickle_to(self, path: Path) -> Path:
        """Hand the fitted estimator to another interpreter with the same scikit-learn version."""
        if self.is_onnx:
            raise TypeError(f"{self.key} is an ONNX graph: use onnx_to()")
        path.write_bytes(pickle.dumps(self.estimator, protocol=pickle.HIGHEST_PROTOCOL))
        return path

    def onnx_to(self, path: Path) -> Path:
        if self.onnx is None:
            raise TypeError(f"{self.key} is not an ONNX model")
        path.write_bytes(self.onnx)
        return path


def make_data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=10_000, n_features=20, n_informative=10, n_redundant=4, random_state=0)


_FACTORIES = {
    "lr": ("LogisticRegression", lambda: LogisticRegression(max_iter=1000)),
    "rf": ("RandomForest(100 trees, depth 10)", lambda: RandomForestClassifier(max_depth=10, random_state=0)),
}
ONNX_OF = {"rf-onnx": "rf"}  # an ONNX export (skl2onnx) of the same fitted forest
MODEL_KEYS = (*_FACTORIES, *ONNX_OF)


def train(keys: list[str], X: np.ndarray, y: np.ndarray) -> list[BenchModel]:
    """Fit each model once; the ONNX forest is an export of the very forest `rf` is."""
    fitted: dict[str, Any] = {}

    def fit(key: str) -> Any:
        if key not in fitted:
            fitted[key] = _FACTORIES[key][1]().fit(X, y)
        return fitted[key]

    models = []
    for key in keys:
        if key in ONNX_OF:
            source = ONNX_OF[key]
            graph = onnx_export.export(fit(source), N_FEATURES)
            title = f"{_FACTORIES[source][0]} as ONNX (skl2onnx, onnxruntime)"
            estimator = onnx_export.OnnxPredictor(graph)
            models.append(BenchModel(key=key, title=title, name=f"bench-{key}", estimator=estimator, onnx=graph))
        else:
            title = _FACTORIES[key][0]
            models.append(BenchModel(key=key, title=title, name=f"bench-{key}", estimator=fit(key)))
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
