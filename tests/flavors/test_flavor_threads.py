"""Thread-safety smoke test: several threads predicting at once get the serial answers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from pyclass_examples import RowSum
from skl2onnx import to_onnx
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from shipyard.schema.batch import Batch

THREADS = 8
ROUNDS = 10

MODELS: dict[str, Callable[[Any, Any], Any]] = {
    "sklearn-forest": lambda X, y: RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y),
    "sklearn-hist": lambda X, y: HistGradientBoostingClassifier(max_iter=10).fit(X, y),
    "onnx": lambda X, y: to_onnx(
        RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y), X[:1].astype(np.float32)
    ),
    "xgboost": lambda X, y: xgb.XGBClassifier(n_estimators=10).fit(X, y),
    "lightgbm": lambda X, y: lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X, y),
    "python-class": lambda X, y: RowSum(),
}


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_concurrent_predictions_match_serial(make: Callable[[Any, Any], Any], cancer: Any, roundtrip: Any) -> None:
    X, y = cancer
    _, loaded = roundtrip(make(X, y), trust_code=True)
    signature = loaded.input_signature()
    rng = np.random.default_rng(0)
    batches = [X[rng.choice(len(X), size=64)] for _ in range(THREADS)]
    if signature is None:
        from shipyard.schema.signature import infer_signature

        signature = infer_signature(X)
    dtype = signature.inputs[0].dtype
    expected = [loaded.predict(Batch(signature, matrix=b.astype(dtype))) for b in batches]

    def hammer(i: int) -> bool:
        for _ in range(ROUNDS):
            got = loaded.predict(Batch(signature, matrix=batches[i].astype(dtype)))
            if got.keys() != expected[i].keys():
                return False
            if not all(np.array_equal(got[k], expected[i][k]) for k in got):
                return False
        return True

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        assert all(pool.map(hammer, range(THREADS)))
