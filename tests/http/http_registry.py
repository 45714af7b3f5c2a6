"""A registry with a few real models and one server over it, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from homes import open_home
from live_server import LiveServer


def mixed_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(np.float64),
            "income": rng.normal(50_000, 15_000, n),
            "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
        }
    )
    y = ((frame["age"] > 50) ^ (frame["plan"] == "pro")).astype(np.int64).to_numpy()
    return frame, y


def build_registry(home: Path, X: np.ndarray, y: np.ndarray) -> dict[str, object]:
    svc = open_home(home)
    try:
        lr1 = LogisticRegression(max_iter=1000).fit(X, y)
        lr2 = LogisticRegression(max_iter=1000, C=0.01).fit(X, y)
        rf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
        frame, fy = mixed_frame(300)
        pre = ColumnTransformer([("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(), ["plan"])])
        mixed = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(frame, fy)
        svc.registry.register("lr", lr1, sample=X[:5], training_data=X, target=y, metrics={"accuracy": 0.9})
        svc.registry.register("lr", lr2, sample=X[:5], training_data=X, target=y, parent_version=1)
        svc.store.set_alias("lr", "production", 1)
        svc.registry.register("rf", rf, sample=X[:5])
        svc.registry.register("mixed", mixed, sample=frame.head(5), training_data=frame, target=fy)
    finally:
        svc.close()
    return {"lr1": lr1, "lr2": lr2, "rf": rf, "mixed": mixed}


@pytest.fixture(scope="module")
def registry_home(tmp_path_factory: pytest.TempPathFactory, classification_data: tuple[np.ndarray, np.ndarray]):
    home = tmp_path_factory.mktemp("home")
    X, y = classification_data
    models = build_registry(home, X, y)
    return home, models


@pytest.fixture(scope="module")
def server(registry_home) -> Iterator[LiveServer]:
    home, _ = registry_home
    with LiveServer(
        home, ["lr@production", "rf", "mixed"], settings={"max_body_bytes": "65536", "max_rows": "500"}
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def models(registry_home) -> dict[str, object]:
    return registry_home[1]
