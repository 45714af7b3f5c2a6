"""Helpers for the lifecycle tests: drafts whose artifacts are really stored, and small
fitted models registered through the real service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.sql import RegistryStore
from shipyard.registry.types import ArtifactRef, ModelVersion, VersionDraft
from shipyard.schema.signature import FieldSpec, Signature

SIGNATURE = Signature("columns", (FieldSpec("x", "float64"),), (FieldSpec("p", "float64"),))
FAR_FUTURE = "2099-03-01"


def draft(artifact: ArtifactRef | None = None, **changes: Any) -> VersionDraft:
    """A minimal draft (the artifact need not be stored unless the test archives it)."""
    return VersionDraft(
        flavor="sklearn",
        artifact=artifact or ArtifactRef("0" * 64, 123, "model.skops"),
        signature=SIGNATURE,
        **changes,
    )


def versions(store: RegistryStore, name: str, count: int, artifacts: ArtifactStore | None = None) -> list[ModelVersion]:
    """``count`` versions of ``name``; with ``artifacts``, each has its own stored blob."""
    made = []
    for i in range(count):
        ref = artifacts.put_bytes(f"{name} version {i + 1}".encode(), filename="model.skops") if artifacts else None
        made.append(store.add_version(name, draft(ref)))
    return made


def register_fraud(home: Path, count: int = 4) -> None:
    """``fraud`` v1..v``count``: small logistic regressions on four columns, alias
    ``production`` → the last one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    services = open_home(home)
    try:
        for i in range(count):
            model = LogisticRegression(C=1.0 / (i + 1)).fit(X, y)
            services.registry.register("fraud", model, sample=X[:3], compile=False)
        services.store.set_alias("fraud", "production", count)
    finally:
        services.close()


ROWS = [[0.1, -0.2, 0.3, 0.4]]
