"""The limit: `model.predict` called in a loop in this process, with no server and no wire format."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PredictResult:
    calls: int
    duration_s: float
    cpu_s: float
    latency_ms: dict[str, float]  # p50, p99 of one call

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.duration_s if self.duration_s else 0.0


def measure_predict(estimator: Any, X: np.ndarray, *, duration_s: float) -> PredictResult:
    """Call `estimator.predict(X)` back to back for about `duration_s` seconds (after one warm-up call)."""
    estimator.predict(X)
    timings: list[float] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    stop_at = started + duration_s
    now = started
    while now < stop_at:
        estimator.predict(X)
        previous, now = now, time.perf_counter()
        timings.append(now - previous)
    elapsed = now - started
    values = np.array(timings) * 1000
    return PredictResult(
        calls=len(timings),
        duration_s=elapsed,
        cpu_s=time.process_time() - cpu_started,
        latency_ms={"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99))},
    )
