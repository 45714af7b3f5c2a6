"""Does the compiled form answer like the native model? The agreement check and its report.

A compiled form may serve only if, on every row checked, its labels are identical to the
native model's and every numeric output is within tolerance:

- probabilities: ``|compiled - native| <= 1e-6`` (absolute). Double-precision graphs land
  around 1e-16; XGBoost, which computes in float32 itself, around 1e-7. A millionth is far
  below any decision threshold anyone sets on a probability, and far above both.
- regression values: ``|compiled - native| <= 1e-6 * max(1, |native|)`` for double
  graphs: relative for large values. XGBoost sums its trees in float32, and ONNX Runtime's
  float32 sum in another order differs by a few float32 steps (2.5e-6 relative seen on 100
  trees), so for float32 graphs the bound is ``1e-5 * max(1, |native|)``.

The report is plain JSON, stored with the version.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shipyard.flavors.base import LoadedModel
from shipyard.flavors.classifier_outputs import PREDICT_PROBA
from shipyard.schema.batch import Batch

PROBA_ABS_TOLERANCE = 1e-6
VALUE_TOLERANCE = {"float64": 1e-6, "float32": 1e-5}
CHUNK_ROWS = 2_000
TIMING_CALLS = 20


def _is_label(values: np.ndarray) -> bool:
    return values.dtype.kind in ("O", "U", "S", "b", "i", "u")


def _compare(
    name: str, native: np.ndarray, compiled: np.ndarray, stats: dict[str, Any], tolerance: float
) -> np.ndarray:
    """Record how output ``name`` differs; the rows on which it disagrees."""
    kind = "labels" if _is_label(native) else "values"
    entry = stats.setdefault(name, {"kind": kind, "max_abs_diff": 0.0, "mismatches": 0})
    rows = len(native)
    if native.shape != compiled.shape or native.dtype != compiled.dtype:
        entry["shape_or_dtype"] = (
            f"native {native.dtype}{list(native.shape)} vs compiled {compiled.dtype}{list(compiled.shape)}"
        )
        entry["mismatches"] += rows
        return np.ones(rows, dtype=bool)
    if kind == "labels":
        bad = native != compiled
    else:
        a, b = native.astype(np.float64), compiled.astype(np.float64)
        both_nan = np.isnan(a) & np.isnan(b)
        diff = np.where(both_nan, 0.0, np.abs(a - b))
        diff = np.where(np.isnan(diff), np.inf, diff)
        entry["max_abs_diff"] = max(entry["max_abs_diff"], float(diff.max()) if diff.size else 0.0)
        allowed = PROBA_ABS_TOLERANCE if name == PREDICT_PROBA else tolerance * np.maximum(1.0, np.abs(a))
        bad = diff > allowed
    per_row = bad.reshape(rows, -1).any(axis=1) if rows else np.zeros(0, dtype=bool)
    entry["mismatches"] += int(per_row.sum())
    return per_row


def _one_row_seconds(model: LoadedModel, batch: Batch) -> float:
    row = batch.take(0, 1)
    model.predict(row)  # first-call costs are not what serving pays
    times = []
    for _ in range(TIMING_CALLS):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_agreement(
    native: LoadedModel,
    compiled: LoadedModel,
    batches: Sequence[Batch],
    *,
    precision: str = "float64",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Compare both forms on every row of ``batches``; the report says whether they agree."""
    total = sum(b.n_rows for b in batches)
    tolerance = VALUE_TOLERANCE.get(precision, VALUE_TOLERANCE["float64"])
    stats: dict[str, Any] = {}
    done = 0
    names = [spec.name for spec in native.outputs]
    compiled_names = [spec.name for spec in compiled.outputs]
    if names != compiled_names:
        return _report(total, stats, f"the compiled outputs {compiled_names} differ from the native {names}", tolerance)
    disagreed = 0
    for batch in batches:
        for start in range(0, batch.n_rows, CHUNK_ROWS):
            part = batch.take(start, min(start + CHUNK_ROWS, batch.n_rows))
            want, got = native.predict(part), compiled.predict(part)
            bad = np.zeros(part.n_rows, dtype=bool)
            for name in names:
                bad |= _compare(name, np.asarray(want[name]), np.asarray(got[name]), stats, tolerance)
            disagreed += int(bad.sum())
            done += part.n_rows
            if progress is not None:
                progress(done, total)
    details = [
        f"{name}: {entry['kind']} differ on {entry['mismatches']} rows ("
        + (
            entry.get("shape_or_dtype")
            or ("not identical" if entry["kind"] == "labels" else f"max abs diff {entry['max_abs_diff']:.3g}")
        )
        + ")"
        for name, entry in stats.items()
        if entry["mismatches"]
    ]
    reason = f"disagreed on {disagreed} of {total} rows: {'; '.join(details)}" if disagreed else None
    report = _report(total, stats, reason, tolerance)
    report["disagreed_rows"] = disagreed
    if batches and batches[0].n_rows:
        report["native_one_row_us"] = round(_one_row_seconds(native, batches[0]) * 1e6, 1)
        report["compiled_one_row_us"] = round(_one_row_seconds(compiled, batches[0]) * 1e6, 1)
    return report


def _report(total: int, stats: dict[str, Any], reason: str | None, tolerance: float) -> dict[str, Any]:
    labels = [entry["mismatches"] == 0 for entry in stats.values() if entry["kind"] == "labels"]
    return {
        "rows_checked": total,
        "agreed": reason is None and total > 0,
        "labels_identical": all(labels) if labels else None,
        "max_abs_diff": {name: entry["max_abs_diff"] for name, entry in stats.items() if entry["kind"] == "values"},
        "mismatched_rows": {name: entry["mismatches"] for name, entry in stats.items()},
        "tolerance": {
            PREDICT_PROBA: f"abs {PROBA_ABS_TOLERANCE:g}",
            "values": f"abs {tolerance:g} x max(1, |native|)",
            "labels": "identical",
        },
        "reason": reason if total > 0 else "no rows to check the compiled form on",
    }
