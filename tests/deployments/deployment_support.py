"""Helpers for the deployment tests: canonical spec text, worker bodies for spawned
processes (importable, picklable arguments), and the issue's two example registries."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from homes import open_home


def canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def spec_of(name: str, weight: int = 10) -> tuple[str, str]:
    """(canonical JSON, YAML) of a small spec for ``name``."""
    variants = {
        "stable": {"model": f"{name}@production", "role": "primary"},
        "c": {"model": f"{name}/2", "role": "canary", "weight": weight},
    }
    data = {"deployment": name, "variants": variants}
    return canonical(data), f"deployment: {name}\n# weight {weight}\n"


def apply_one(url: str, name: str, index: int, barrier: Any, results: Any) -> None:
    """Apply a distinct spec of ``name``, all processes starting together."""
    from shipyard.registry.sql import RegistryStore

    try:
        barrier.wait(timeout=180)
        store = RegistryStore(url)
        try:
            spec_json, spec_yaml = spec_of(name, weight=index + 1)
            applied = store.deployments.apply(name, spec_json, spec_yaml, actor=f"user:w{index}", source="test")
        finally:
            store.close()
        results.put((index, "ok", applied.revision.revision))
    except BaseException as exc:
        results.put((index, "error", f"{type(exc).__module__}.{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def build_examples(home: Path) -> None:
    """``fraud`` v1..v5 (alias ``production`` → 3) and ``ranker`` v1..v2: small logistic
    regressions on the same four columns; ``other`` v1 on different columns."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    svc = open_home(home)
    try:
        for c in (1.0, 0.5, 0.2, 0.1, 0.05):
            svc.registry.register("fraud", LogisticRegression(C=c).fit(X, y), sample=X[:3], compile=False)
        svc.store.set_alias("fraud", "production", 3)
        for c in (1.0, 0.3):
            svc.registry.register("ranker", LogisticRegression(C=c).fit(X, y), sample=X[:3], compile=False)
        X6 = rng.normal(size=(80, 6))
        svc.registry.register("other", LogisticRegression().fit(X6, y), sample=X6[:3], compile=False)
    finally:
        svc.close()
