"""The benchmark's data sets, its models and the rows every server is sent.

Everything here is deterministic: the same seed gives the same rows, the same models and the same
bytes on the wire, so runs on different days compare. Models are trained on DataFrames, as users
train them: `lr` and `rf` on 20 numeric columns x0..x19, `mixed` (a ColumnTransformer pipeline) on
18 numeric columns and 2 string ones. A request's rows are the first rows of the model's frame.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx_export
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

N_FEATURES = 20
COLUMNS = [f"x{i}" for i in range(N_FEATURES)]
# The mixed frame: x0..x17 numeric, then two string columns cut from x18 and x19 (so they carry signal).
MIXED_NUMERIC = COLUMNS[:18]
MIXED_STRINGS = {"color": (["red", "green", "blue", "black"], [-1.0, 0.0, 1.0]), "size": (["S", "M", "L"], [-0.5, 0.5])}


@dataclass(frozen=True)
class BenchModel:
    """One trained model, the frame its requests' rows come from, and the name each server knows it by."""

    key: str  # "lr" / "rf" / "rf-onnx" / "mixed": what --models takes
    title: str
    name: str  # the registered / served name
    estimator: Any  # anything with predict(X): a fitted scikit-learn model, or an onnx_export.OnnxPredictor
    frame: pd.DataFrame  # the data set as the model was trained on it; requests send its first rows
    target: np.ndarray
    onnx: bytes | None = None  # the serialized graph, for ONNX models

    @property
    def is_onnx(self) -> bool:
        return self.onnx is not None

    @property
    def is_mixed(self) -> bool:
        """Some column is not numeric: servers that take one numeric matrix cannot serve it."""
        return any(not pd.api.types.is_numeric_dtype(dtype) for dtype in self.frame.dtypes)

    def rows(self, count: int) -> pd.DataFrame:
        """The rows sent in one request: the first `count` rows of the frame."""
        return self.frame.head(count)

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

    def data_to(self, path: Path) -> Path:
        """The frame (column -> values, exact floats) and target as JSON, readable by any venv's pandas."""
        columns = {name: self.frame[name].tolist() for name in self.frame.columns}
        document = {"columns": columns, "target": self.target.tolist()}
        path.write_text(json.dumps(document))
        return path


def make_data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=10_000, n_features=20, n_informative=10, n_redundant=4, random_state=0)


def numeric_frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=COLUMNS)


def mixed_frame(X: np.ndarray) -> pd.DataFrame:
    """x0..x17 as they are; x18 and x19 cut into categories ("color", "size")."""
    frame = pd.DataFrame(X[:, :18], columns=MIXED_NUMERIC)
    for index, (name, (labels, edges)) in enumerate(MIXED_STRINGS.items()):
        frame[name] = np.array(labels, dtype=object)[np.digitize(X[:, 18 + index], edges)]
    return frame


def mixed_pipeline() -> Any:
    """Impute + scale the numeric columns, one-hot the string ones, then a LogisticRegression."""
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), MIXED_NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(MIXED_STRINGS)),
        ]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=1000))


_FACTORIES = {
    "lr": ("LogisticRegression", lambda: LogisticRegression(max_iter=1000), numeric_frame),
    "rf": (
        "RandomForest(100 trees, depth 10)",
        lambda: RandomForestClassifier(max_depth=10, random_state=0),
        numeric_frame,
    ),
    "mixed": (
        "ColumnTransformer(impute+scale 18 numeric, one-hot 2 string) + LogisticRegression",
        mixed_pipeline,
        mixed_frame,
    ),
}
ONNX_OF = {"rf-onnx": "rf"}  # an ONNX export (skl2onnx) of the same fitted forest
MODEL_KEYS = ("lr", "rf", "rf-onnx", "mixed")


def train(keys: list[str], X: np.ndarray, y: np.ndarray) -> list[BenchModel]:
    """Fit each model once on its DataFrame; the ONNX forest is an export of the very forest `rf` is."""
    fitted: dict[str, Any] = {}

    def fit(key: str) -> Any:
        if key not in fitted:
            _, factory, frame_of = _FACTORIES[key]
            fitted[key] = factory().fit(frame_of(X), y)
        return fitted[key]

    models = []
    for key in keys:
        if key in ONNX_OF:
            source = ONNX_OF[key]
            graph = onnx_export.export(fit(source), N_FEATURES)
            title = f"{_FACTORIES[source][0]} as ONNX (skl2onnx, onnxruntime)"
            estimator = onnx_export.OnnxPredictor(graph)
            frame = numeric_frame(X)
            models.append(BenchModel(key, title, f"bench-{key}", estimator, frame, y, onnx=graph))
        else:
            title, _, frame_of = _FACTORIES[key]
            models.append(BenchModel(key, title, f"bench-{key}", fit(key), frame_of(X), y))
    return models


def matrix_body(rows: pd.DataFrame, name: str = "input-0") -> bytes:
    """Open Inference Protocol V2: one 2-D FP64 tensor, row-major (numeric frames only)."""
    tensor = {
        "name": name,
        "shape": list(rows.shape),
        "datatype": "FP64",
        "data": rows.to_numpy(float).ravel().tolist(),
    }
    return json.dumps({"inputs": [tensor]}).encode()


def dataframe_split_body(rows: pd.DataFrame) -> bytes:
    """MLflow's native pandas "split" orientation."""
    return json.dumps(
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy(object).tolist()}}
    ).encode()


def instances_body(rows: pd.DataFrame) -> bytes:
    """KServe V1: one list per row, columns in the frame's order."""
    return json.dumps({"instances": rows.to_numpy(object).tolist()}).encode()
