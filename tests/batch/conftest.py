"""Batch scoring fixtures: one SHIPYARD_HOME per test session with two DataFrame-trained models
registered through the SDK (compiled and verified as any registration) and a Python-class model
that fails on some valid rows, and a CLI runner on it.

Scoring only reads the registry, so the tests share the home; each writes its files in its
own ``tmp_path``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_support import ScoringHome, Shipyard, mixed_frame, numeric_frame
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard
from shipyard.sdk.runtime_notice import CompileNotice

PICKY = """
import numpy as np


class Picky:
    \"\"\"Raises on values above 100, which its signature accepts: a model's failure, not a bad row.\"\"\"

    def predict(self, X):
        values = np.asarray(X, dtype=float)[:, 0]
        if (values > 100).any():
            raise ValueError("too big")
        return values * 2
"""


@pytest.fixture(scope="session")
def scoring_home(tmp_path_factory: pytest.TempPathFactory) -> ScoringHome:
    home = tmp_path_factory.mktemp("scoring") / "home"
    x = numeric_frame(1500, seed=0)
    y = (x["a"] + 0.5 * x["b"] - x["c"] > 0).astype(int)
    lr = LogisticRegression().fit(x, y)
    shipyard.register_model("lr", lr, training_data=(x, y), home=home)
    m = mixed_frame(1500, seed=0)
    labels = (m["x"].fillna(0) + (m["color"] == "red") * 1.5 - m["n"] / 50 > 0).map({True: "yes", False: "no"})
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["x", "n"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
        ]
    )
    mixed = make_pipeline(columns, LogisticRegression()).fit(m, labels)
    shipyard.register_model("mixed", mixed, training_data=(m, labels), home=home)
    picky = home.parent / "picky.py"
    picky.write_text(PICKY)
    with pytest.warns(CompileNotice, match="native"):
        shipyard.register_model("picky", str(picky), sample=pd.DataFrame({"v": [1.0, 2.0]}), trust_code=True, home=home)
    return ScoringHome(home, lr, mixed)


@pytest.fixture
def cli(scoring_home: ScoringHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shipyard:
    """``shipyard --home <the scoring home>``, run in ``tmp_path``, none of the developer's settings."""
    for name in ("SHIPYARD_CONFIG", "SHIPYARD_REGISTRY_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Shipyard(scoring_home.path)
