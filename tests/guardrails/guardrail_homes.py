"""A home for the guardrail tests: models with a reference profile, Python-class models that
raise, sleep or answer odd values, and each target's serving controls in the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from homes import open_home
from shipyard.rollout.service import apply_spec

PLANS = np.array(["basic", "plus", "pro"], dtype=object)

BOOM = '''
import numpy as np


class Boom:
    """Raises when the first input is positive; else answers the row sums."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if (X[:, 0] > 0).any():
            raise ValueError("boom")
        return X.sum(axis=1)
'''

SLEEPY = '''
import time

import numpy as np


class Sleepy:
    """Sleeps as many seconds as its first input says, then answers the row sums."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        time.sleep(float(X[0, 0]))
        return X.sum(axis=1)
'''

CONSTANT = '''
import numpy as np


class Constant:
    """Answers 42 for every row."""

    def predict(self, X):
        return np.full(len(X), 42.0)
'''

ECHO = '''
import numpy as np


class Echo:
    """Answers its first input (NaN for 999): a 'classifier' whose labels the inputs pick."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return np.where(X[:, 0] == 999, np.nan, X[:, 0])
'''

# target -> controls document
CONTROLS: dict[str, dict[str, Any]] = {
    "churn_reject": {"guardrails": {"inputs": "reject"}},
    "churn_ood": {"guardrails": {"inputs": "flag", "ood_threshold": 1.5}},
    "churn_off": {"guardrails": {"inputs": "off", "outputs": False}},
    "churn_review": {
        "review": {"rules": [{"kind": "classes", "classes": [1]}], "timeout_seconds": 600},
        "fallback": {"answer": {"predict": 0}},
    },
    "churn_rvfb": {
        "review": {"rules": [{"kind": "low_confidence", "below": 1.0}], "respond": "fallback"},
        "fallback": {"answer": {"predict": 0}},
        "pii": {"plan": "drop"},
    },
    "churn_gr": {"guardrails": {"inputs": "review"}},
    "boom": {"fallback": {"answer": {"predict": -1}}},
    "boom_model": {"fallback": {"model": "backup@production"}},
    "boom_broken": {"fallback": {"model": "nosuch@production", "answer": {"predict": -3}}},
    "sleepy": {"fallback": {"answer": {"predict": -2}}},
    # A deployment's own controls apply to it (not its variants' models').
    "churndep": {"guardrails": {"inputs": "reject"}},
}

DEPLOYMENT = """\
deployment: churndep
variants:
  main: {model: churn/1, role: primary}
"""


def churn_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
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


def build_home(home: Path) -> dict[str, Any]:
    """Register every model and set every controls document; returns facts the tests use."""
    svc = open_home(home)
    facts: dict[str, Any] = {}
    try:
        frame, y = churn_frame(400)
        pre = ColumnTransformer(
            [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
        )
        churn = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(frame, y)
        for name in ("churn", "churn_reject", "churn_ood", "churn_off", "churn_review", "churn_rvfb", "churn_gr"):
            svc.registry.register(name, churn, sample=frame.head(5), training_data=frame, target=y, compile=False)
        facts["income"] = (float(frame["income"].min()), float(frame["income"].max()))
        code = home.parent / "code"
        code.mkdir(exist_ok=True)
        for name, source in (("boom", BOOM), ("sleepy", SLEEPY), ("constant", CONSTANT), ("echo", ECHO)):
            (code / f"{name}_model.py").write_text(source)
        two = np.zeros((2, 2))
        for name in ("boom", "boom_model", "boom_bare", "boom_broken"):
            svc.registry.register(name, code / "boom_model.py", sample=two, trust_code=True)
        for name in ("sleepy", "sleepy_bare"):
            svc.registry.register(name, code / "sleepy_model.py", sample=two, trust_code=True)
        svc.registry.register("backup", code / "constant_model.py", sample=two, trust_code=True)
        svc.store.set_alias("backup", "production", 1)
        X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]] * 5)
        labels = np.where(X[:, 0] == 1.0, "1", "0")
        svc.registry.register(
            "echo", code / "echo_model.py", sample=X[:2], training_data=X, target=labels, trust_code=True
        )
        apply_spec(svc.store, DEPLOYMENT, actor="user:test")
        for target, document in CONTROLS.items():
            svc.store.controls.set(target, document, actor="user:test")
    finally:
        svc.close()
    return facts


SERVED = [
    "churn",
    "churn_reject",
    "churn_ood",
    "churn_off",
    "churn_review",
    "churn_rvfb",
    "churn_gr",
    "boom",
    "boom_model",
    "boom_bare",
    "boom_broken",
    "sleepy",
    "sleepy_bare",
    "echo",
    "churndep",
]
