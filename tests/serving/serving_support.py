"""A registry holding one model of every built-in format, and a data plane over it.

Everything is real: models registered through the registry service, loaded by the model
manager, called through ``DataPlane.infer`` on one event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from homes import open_home
from shipyard.registry.refs import parse_ref
from shipyard.schema.batch import RawInput, RawInputs
from shipyard.serving.dataplane import DataPlane, InferenceCall, InferenceResult
from shipyard.serving.events import BatchRecord, InferenceFailure, InferenceRecord
from shipyard.serving.manager import ModelManager

SLEEPY_MODEL = '''
import time

import numpy as np


class Sleepy:
    """Sleeps as many seconds as its first input says, then answers the row sums."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        time.sleep(float(X[0, 0]))
        return X.sum(axis=1)
'''

PLANS = np.array(["basic", "plus", "pro"], dtype=object)


def plans_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A table with a string column, as churn-like data looks."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(np.float64),
            "income": rng.normal(50_000, 15_000, n),
            "plan": rng.choice(PLANS, n),
        }
    )
    y = ((frame["age"] > 50) ^ (frame["plan"] == "pro")).astype(np.int64).to_numpy()
    return frame, y


def build_registry(home: Path, X: np.ndarray, y: np.ndarray) -> None:
    """Register one model per built-in format (and two versions of ``lr``)."""
    svc = open_home(home)
    try:
        frame, fy = plans_frame(300)
        # handle_unknown="error": an unseen plan passes validation (any string does) but
        # makes the model itself raise — the culprit of the isolation tests.
        pre = ColumnTransformer(
            [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(handle_unknown="error"), ["plan"])]
        )
        X32 = X.astype(np.float32)
        models: dict[str, Any] = {
            "clf": RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(X, y),
            "reg": Ridge().fit(X, X[:, 0] * 3 + y),
            "xgb": xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y),
            "lgbm": lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, X[:, 1] + y),
        }
        for name, model in models.items():
            svc.registry.register(name, model, sample=X[:5])
        svc.registry.register(
            "pipe", make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(frame, fy), sample=frame.head(5)
        )
        onnx_model = to_onnx(LogisticRegression(max_iter=1000).fit(X32, y), X32[:1], target_opset=17)
        svc.registry.register("onnx", onnx_model, sample=X32[:5])
        svc.registry.register("lr", LogisticRegression(max_iter=1000).fit(X, y), sample=X[:5])
        svc.registry.register("lr", LogisticRegression(max_iter=1000, C=0.001).fit(X, 1 - y), sample=X[:5])
        svc.store.set_alias("lr", "production", 1)
        code = home.parent / "sleepy_model.py"
        code.write_text(SLEEPY_MODEL)
        svc.registry.register("slow", code, sample=np.zeros((2, 2)), trust_code=True)
    finally:
        svc.close()


@dataclass
class Recorder:
    """An observer of both the data plane and the manager, as the metrics are."""

    records: list[InferenceRecord] = field(default_factory=list)
    failures: list[InferenceFailure] = field(default_factory=list)
    batches: list[BatchRecord] = field(default_factory=list)

    def on_inference(self, record: InferenceRecord) -> None:
        self.records.append(record)

    def on_failure(self, failure: InferenceFailure) -> None:
        self.failures.append(failure)

    def on_batch(self, record: BatchRecord) -> None:
        self.batches.append(record)

    def on_model_state(self, model: str, version: int | None, state: str) -> None:
        pass


@asynccontextmanager
async def serving(home: Path, refs: list[str], **settings: Any) -> AsyncIterator[tuple[DataPlane, Recorder]]:
    """A started manager and data plane over ``home``, configured like the server does."""
    svc = open_home(home, **settings)
    recorder = Recorder()
    manager = ModelManager(
        svc.registry, poll_seconds=svc.settings.alias_poll_seconds, observers=[recorder], settings=svc.settings
    )
    dataplane = DataPlane(
        manager,
        max_rows=svc.settings.max_rows,
        timeout_seconds=svc.settings.request_timeout_seconds,
        observers=[recorder],
    )
    try:
        await manager.start([parse_ref(ref) for ref in refs])
        yield dataplane, recorder
    finally:
        await manager.close()
        dataplane.close()
        svc.close()


def call(model: str, rows: Any, *, request_id: str, version: int | None = None) -> InferenceCall:
    """An inference call as a protocol adapter makes it: a matrix, or a named table."""
    if isinstance(rows, pd.DataFrame):
        raw = RawInput(None, rows.to_numpy(dtype=object), column_names=tuple(str(c) for c in rows.columns))
    else:
        raw = RawInput(None, np.asarray(rows))
    return InferenceCall(model, version, RawInputs((raw,)), "test", request_id)


def assert_unbatched(result: InferenceResult) -> None:
    """The outputs equal what the same model version answers for these rows alone.

    Labels and integers must be identical. Floats may differ in the last bit or two: BLAS
    picks other kernels (and summation orders) for a 2-row and a 200-row matrix product, so
    a linear model's score for a row depends on its batch size in the last bits (float64
    or float32 alike).
    """
    alone = result.served.model.predict(result.batch)
    assert set(alone) == set(result.outputs)
    for name, expected in alone.items():
        got = result.outputs[name]
        assert got.shape == expected.shape and got.dtype == expected.dtype, name
        if np.issubdtype(expected.dtype, np.floating):
            ulps = 8 * float(np.finfo(expected.dtype).eps)
            np.testing.assert_allclose(got, expected, rtol=ulps, atol=ulps, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)
