"""Models, data and checks shared by the model card tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from shipyard.bootstrap import Services

COLUMNS = ["a", "b", "c"]


def frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)
    return X, (X["a"] > 0).astype(np.int64)


def register_clf(
    svc: Services, name: str = "clf", *, metrics: dict[str, float] | None = None, lineage: bool = True, **kw: Any
) -> int:
    """A logistic regression on columns a, b, c, registered by ``alice`` (owner ``team-risk``);
    with ``lineage``, its training data, target and metrics (one of them sliced)."""
    X, y = frame()
    extra: dict[str, Any] = {}
    if lineage:
        extra = {
            "training_data": X,
            "target": y,
            "metrics": metrics if metrics is not None else {"accuracy": 0.93, "accuracy[sex=F]": 0.91},
        }
    version = svc.registry.register(
        name, LogisticRegression().fit(X, y), sample=X[:3], compile=False, created_by="alice", actor="alice",
        **extra, **kw,
    )  # fmt: skip
    svc.store.update_model(name, owner="team-risk")
    return version.version


def reference_csv(path: Path, rows: int = 200) -> Path:
    """Reference data with the model's columns, a ``label`` and a ``sex`` column."""
    X, y = frame(rows, seed=1)
    data = X.copy()
    data["label"] = y
    data["sex"] = np.where(np.random.default_rng(2).random(rows) > 0.5, "F", "M")
    data.to_csv(path, index=False)
    return path


HIGH_FIELDS = ["intended_use", "out_of_scope_use", "limitations", "risks", "training_data", "evaluation", "owners"]

FULL_NARRATIVE = {
    "summary": "Scores loan applications.",
    "intended_use": "Ranking applications for a human underwriter.",
    "out_of_scope_use": "Automatic denial without review.",
    "users": "Underwriters",
    "limitations": "Trained on 2024 applications only.",
    "risks": "Unfair denials for thin-file applicants.",
    "mitigations": "Human review below 0.7 confidence.",
    "ethical_considerations": "Protected attributes are not inputs.",
    "caveats": "Recalibrate quarterly.",
}
