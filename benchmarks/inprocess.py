"""The limit: a model's `predict` called in a loop in this process, with no server and no wire format.

Configurations: scikit-learn's `predict` (`inprocess`: on a float matrix for the numeric models,
which skips the DataFrame their servers may build, on the DataFrame for the mixed pipeline, which
needs one) and onnxruntime's `run` on the model's skl2onnx export with one thread (`inprocess-onnx`),
the feeds built once: what a compiled runtime can reach.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import report
from models import BenchModel
from onnx_export import OnnxPredictor, export_frame


@dataclass(frozen=True)
class PredictResult:
    calls: int
    duration_s: float
    cpu_s: float
    latency_ms: dict[str, float]  # p50, p99 of one call

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.duration_s if self.duration_s else 0.0


def sklearn_call(model: BenchModel, rows: pd.DataFrame) -> Callable[[], Any]:
    """`predict` as the model takes it fastest: a matrix (or the ONNX model's feeds), the DataFrame if mixed."""
    if isinstance(model.estimator, OnnxPredictor):
        return onnx_call(model.estimator, rows)
    data: Any = rows if model.is_mixed else rows.to_numpy(float)
    return lambda: model.estimator.predict(data)


def onnx_call(predictor: OnnxPredictor, rows: pd.DataFrame) -> Callable[[], Any]:
    feeds = predictor.feeds(rows if len(predictor.inputs) > 1 else rows.to_numpy(float))
    return lambda: predictor.run(feeds)


class OnnxExports:
    """Each model's skl2onnx export, made once per run; the reason when a model does not convert."""

    def __init__(self) -> None:
        self._made: dict[str, OnnxPredictor | str] = {}

    def get(self, model: BenchModel) -> OnnxPredictor | str:
        if model.key not in self._made:
            if isinstance(model.estimator, OnnxPredictor):
                self._made[model.key] = model.estimator
            else:
                try:
                    self._made[model.key] = OnnxPredictor(export_frame(model.estimator, model.frame))
                except Exception as exc:  # skl2onnx raises anything; the row is skipped with the reason
                    self._made[model.key] = f"skl2onnx cannot convert it: {type(exc).__name__}: {exc}"[:300]
        return self._made[model.key]


def measure_predict(call: Callable[[], Any], *, duration_s: float) -> PredictResult:
    """Call `call()` back to back for about `duration_s` seconds (after one warm-up call)."""
    with warnings.catch_warnings():
        # A DataFrame-trained model warns on each matrix ("X does not have valid feature names").
        warnings.simplefilter("ignore")
        call()
        timings: list[float] = []
        cpu_started = time.process_time()
        started = time.perf_counter()
        stop_at = started + duration_s
        now = started
        while now < stop_at:
            call()
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


def sample(
    server: str,
    model: BenchModel,
    call: Callable[[], object],
    rows: pd.DataFrame,
    *,
    repeat: int,
    duration: float,
    batch: int = 0,
) -> report.Sample:
    """`call()` predicts the request's rows; with `batch`, that many rows at once, one row counting as one request."""
    result = measure_predict(call, duration_s=duration)
    return report.Sample(
        server=server,
        model=model.key,
        rows=len(rows),
        concurrency=None,
        repeat=repeat,
        requests=result.calls * (batch or 1),
        duration_s=result.duration_s,
        p50_ms=result.latency_ms["p50"],
        p99_ms=result.latency_ms["p99"],
        errors={},
        server_cpu_pct=100 * result.cpu_s / result.duration_s,
        loadgen_cpu_pct=None,
    )


def measure_all(
    servers: list[str],
    model: BenchModel,
    count: int,
    exports: OnnxExports,
    record: Callable[[report.Sample], None],
    skipped: dict[str, str],
    *,
    repeats: int,
    duration: float,
) -> None:
    """Every chosen in-process configuration for one model and row count, `repeats` times."""
    rows = model.rows(count)
    onnx = exports.get(model) if report.INPROCESS_ONNX in servers and not model.is_onnx else None
    if isinstance(onnx, str):
        skipped[f"{report.INPROCESS_ONNX} {model.key}"] = onnx
    for repeat in range(repeats):
        if report.INPROCESS in servers:
            record(sample(report.INPROCESS, model, sklearn_call(model, rows), rows, repeat=repeat, duration=duration))
        if report.INPROCESS_BATCH in servers and count == 1:
            size = report.INPROCESS_BATCH_ROWS
            call = sklearn_call(model, model.rows(size))
            record(sample(report.INPROCESS_BATCH, model, call, rows, repeat=repeat, duration=duration, batch=size))
        if isinstance(onnx, OnnxPredictor):
            record(sample(report.INPROCESS_ONNX, model, onnx_call(onnx, rows), rows, repeat=repeat, duration=duration))
