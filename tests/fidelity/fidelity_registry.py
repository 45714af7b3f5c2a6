"""A registry with two small models (a LogisticRegression on four named columns, in two
versions, and a forest) and a real server over it, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer

COLUMNS = ["a", "b", "c", "d"]


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(COLUMNS))), columns=COLUMNS)
    y = (X["a"] + X["b"] > 0).astype(np.int64).to_numpy()
    return X, y


@pytest.fixture(scope="module")
def fidelity_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    home = tmp_path_factory.mktemp("fidelity")
    X, y = frame(200)
    svc = open_home(home)
    try:
        lr1 = LogisticRegression(max_iter=500).fit(X, y)
        lr2 = LogisticRegression(max_iter=500, C=0.05).fit(X, y)
        rf = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
        svc.registry.register("lr", lr1, sample=X.head(5))
        svc.registry.register("lr", lr2, sample=X.head(5))
        svc.store.set_alias("lr", "production", 1)
        svc.registry.register("rf", rf, sample=X.head(5))
    finally:
        svc.close()
    return home, {"lr1": lr1, "lr2": lr2, "rf": rf}


@pytest.fixture(scope="module")
def server(fidelity_home: tuple[Path, dict[str, object]]) -> Iterator[LiveServer]:
    home, _ = fidelity_home
    with LiveServer(home, ["lr@production", "rf"], settings={"max_body_bytes": "4096"}) as srv:
        yield srv
