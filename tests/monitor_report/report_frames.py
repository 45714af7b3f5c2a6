"""Frames shaped like the prediction log read back (``predlog.table``: one row per prediction
row, the request's fields repeated, ``in.<column>``, ``out.<name>``, and the feedback columns
``join_feedback`` adds), and a version's reference, for the window and report tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from shipyard.lineage.profile import profile
from shipyard.monitoring.drift import summarize
from shipyard.monitoring.window import Reference

NOW = 1_764_000_000.0  # a fixed moment: 2025-11-24 16:00 UTC
HOUR = 3600.0


def log_frame(
    n_requests: int,
    *,
    rows: int = 2,
    version: int = 1,
    variant: str | None = None,
    seed: int = 0,
    shift: float = 0.0,
    errors: int = 0,
    start: float = NOW - 6 * HOUR,
    end: float = NOW,
    prefix: str = "r",
) -> pd.DataFrame:
    """One row per prediction row, the request's fields repeated (``predlog.table``'s shape)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_requests):
        t = float(rng.uniform(start, end))
        failed = i < errors
        latency = float(rng.gamma(2.0, 5.0))
        for r in range(1 if failed else rows):
            age = float(rng.normal(40 + shift, 10))
            records.append(
                {
                    "request_id": f"{prefix}{seed}-{i}",
                    "row": r,
                    "time": t,
                    "target": "fraud",
                    "model": "fraud",
                    "version": version,
                    "variant": variant,
                    "status": 400 if failed else 200,
                    "latency_ms": latency,
                    "rows": 1 if failed else rows,
                    "in.age": None if failed else age,
                    "in.plan": None if failed else str(rng.choice(["a", "b", "c"] if not shift else ["a", "c", "d"])),
                    "out.predict": None if failed else int(age > 45),
                    "out.predict_proba": None if failed else [1 - _sigmoid(age), _sigmoid(age)],
                }
            )
    return pd.DataFrame(records)


def _sigmoid(age: float) -> float:
    return 1.0 / (1.0 + math.exp(-(age - 45) / 5))


def reference_frame(n: int = 800, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40, 10, n), "plan": rng.choice(["a", "b", "c"], n).astype(object)})


def reference(frame: pd.DataFrame | None = None, *, metrics: dict[str, float] | None = None) -> Reference:
    frame = reference_frame() if frame is None else frame
    return Reference(
        model="fraud",
        version=1,
        profile=profile(frame),
        metrics=metrics or {},
        summary=summarize(frame),
    )


def labelled(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """Labels (``join_feedback``'s ``label`` column) on a share of the answered rows."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    ok = out["status"] == 200
    truth = (out["in.age"] + rng.normal(0, 6, len(out)) > 45).astype("Int64")
    given = ok & (rng.random(len(out)) < share)
    out["label"] = truth.where(given, None).astype(object).where(given, None)
    out["value"] = None
    return out
