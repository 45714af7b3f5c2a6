"""Comparing two variants' answers to the same rows (shadows, mirrored canary requests).

Row by row, on the prediction output (``predict``, else the first output):

- **agreement**: labels (integers, strings, booleans) agree when equal; numbers agree when
  their relative difference ``|a - b| / max(|a|, |b|)`` is at most ``tolerance`` (equal
  values, zeros included, always agree);
- **score delta**: for classifiers with ``predict_proba`` on both sides, the candidate's
  probability of the reference's top class minus the reference's; for numeric predictions,
  candidate minus reference; labels without probabilities have none (0).

A shape mismatch (a candidate answering another number of rows) counts every row as a
disagreement rather than raising: a comparison must never fail the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PREDICT = "predict"
PROBA = "predict_proba"
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Comparison:
    rows: int
    agreed: int
    delta_sum: float
    delta_abs_sum: float


def prediction_of(outputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The output compared and histogrammed: ``predict`` if present, else the first one."""
    if PREDICT in outputs:
        return outputs[PREDICT]
    for value in outputs.values():
        return value
    return None


def compare(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], *, tolerance: float = DEFAULT_TOLERANCE
) -> Comparison:
    ref = prediction_of(reference)
    cand = prediction_of(candidate)
    if ref is None:
        return Comparison(0, 0, 0.0, 0.0)
    rows = len(ref)
    if cand is None or len(cand) != rows:
        return Comparison(rows, 0, 0.0, 0.0)
    ref_flat = ref.reshape(rows, -1)[:, 0] if ref.ndim > 1 else ref
    cand_flat = cand.reshape(rows, -1)[:, 0] if cand.ndim > 1 else cand
    numeric = ref_flat.dtype.kind == "f" and cand_flat.dtype.kind in "fiu"
    if numeric:
        a = ref_flat.astype(np.float64, copy=False)
        b = cand_flat.astype(np.float64, copy=False)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.maximum(np.abs(a), np.abs(b))
            relative = np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1.0), 0.0)
        agreed = int(np.count_nonzero((relative <= tolerance) | (a == b)))
        delta: np.ndarray | None = b - a
    else:
        try:
            agreed = int(np.count_nonzero(ref_flat == cand_flat))
        except (TypeError, ValueError):
            agreed = sum(1 for x, y in zip(ref_flat.tolist(), cand_flat.tolist(), strict=True) if x == y)
        delta = _proba_delta(reference, candidate, rows)
    if delta is None:
        return Comparison(rows, agreed, 0.0, 0.0)
    finite = delta[np.isfinite(delta)]
    return Comparison(rows, agreed, float(finite.sum()), float(np.abs(finite).sum()))


def _proba_delta(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], rows: int
) -> np.ndarray | None:
    ref = reference.get(PROBA)
    cand = candidate.get(PROBA)
    if ref is None or cand is None or ref.ndim != 2 or ref.shape != cand.shape or len(ref) != rows:
        return None
    top = np.argmax(ref, axis=1)
    index = np.arange(rows)
    result: np.ndarray = cand[index, top].astype(np.float64) - ref[index, top].astype(np.float64)
    return result
