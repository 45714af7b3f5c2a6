"""What one variant did over a short window: mergeable counts and histograms.

Every worker keeps one :class:`VariantWindow` per (deployment, variant, kind, second) it
served, and writes it to the registry (``registry/sql/rollouts.py``); an analysis, a status
page or a report reads the windows of every worker over a period and merges them. So every
figure here is a sum or a histogram with fixed edges, never a mean of means or a
per-worker percentile:

- latency: counts over fixed log-spaced edges (about 10% apart, 10 µs to 2 min), so p50
  and p99 of the merged traffic are read off the merged counts, to within one bucket;
- predictions: counts per label (at most ``MAX_LABELS`` distinct, the rest as
  ``OTHER``), or, for numbers, per bucket of a signed log grid (5% apart): the PSI between
  two variants' distributions is computed on these counts (``rollout/analysis.py``);
- comparisons (a shadow's or a mirrored canary's answer against the answer returned):
  rows compared and agreeing, and the sum and absolute sum of the score deltas, plus the
  latency deltas.

``kind`` says which traffic a window counts: ``served`` (requests the variant answered),
``shadow`` (copies a shadow computed, compared with what was returned) or ``mirror``
(canary requests also computed on the primary, compared with the canary's answer).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["served", "shadow", "mirror"]
KINDS: tuple[str, ...] = ("served", "shadow", "mirror")

LATENCY_EDGES: tuple[float, ...] = tuple(1e-5 * 1.1**i for i in range(int(math.log(120 / 1e-5, 1.1)) + 2))
"""Upper edges of the latency buckets in seconds; a last, open bucket takes the rest."""

MAX_LABELS = 64
OTHER = "label:…other"
_NUMBER_BASE = math.log(1.05)
_NUMBER_FLOOR = 1e-12


def latency_bucket(seconds: float) -> int:
    return bisect.bisect_left(LATENCY_EDGES, seconds)


def bucket_upper(index: int) -> float:
    """The latency a bucket stands for (its upper edge; the open bucket: the last edge)."""
    return LATENCY_EDGES[min(index, len(LATENCY_EDGES) - 1)]


def number_key(value: float) -> str:
    """The bucket of a numeric prediction on the signed log grid (``num:0`` for zero)."""
    if not math.isfinite(value):
        return "num:nan" if math.isnan(value) else ("num:+inf" if value > 0 else "num:-inf")
    magnitude = abs(value)
    if magnitude < _NUMBER_FLOOR:
        return "num:0"
    step = math.floor(math.log(magnitude) / _NUMBER_BASE)
    return f"num:{'-' if value < 0 else '+'}{step}"


def number_key_value(key: str) -> float:
    """The lower magnitude edge of a ``num:`` bucket, signed (for ordering buckets)."""
    body = key[4:]
    if body == "0":
        return 0.0
    if body in ("nan", "+inf", "-inf"):
        return {"nan": math.inf, "+inf": math.inf, "-inf": -math.inf}[body]
    sign = -1.0 if body[0] == "-" else 1.0
    return sign * math.exp(int(body[1:]) * _NUMBER_BASE)


def prediction_keys(values: np.ndarray) -> list[str]:
    """One key per row of a prediction output (``label:...`` or ``num:...``)."""
    flat = values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
    if flat.dtype.kind == "f":
        return [number_key(float(v)) for v in flat.tolist()]
    if flat.dtype.kind == "b":
        return [f"label:{'true' if v else 'false'}" for v in flat.tolist()]
    return [f"label:{v}" for v in flat.tolist()]


def prediction_counts(values: np.ndarray) -> dict[str, int]:
    """``prediction_keys`` counted, with the distinct values found by numpy (the cost grows
    with the distinct values, not the rows: a 10,000-row answer is one ``np.unique``)."""
    flat = values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
    if len(flat) <= 4:
        out: dict[str, int] = {}
        for key in prediction_keys(flat):
            out[key] = out.get(key, 0) + 1
        return out
    if flat.dtype.kind == "f":
        data = flat.astype(np.float64, copy=False)
        finite = data[np.isfinite(data)]
        magnitude = np.abs(finite)
        small = magnitude < _NUMBER_FLOOR
        steps = np.floor(np.log(np.where(small, 1.0, magnitude)) / _NUMBER_BASE).astype(np.int64)
        # One integer per bucket: 0 for zero, else sign * (2 * |step| + (step < 0) + 1).
        codes = np.where(small, 0, np.where(finite < 0, -1, 1) * (2 * np.abs(steps) + (steps < 0) + 1))
        uniques, counts = np.unique(codes, return_counts=True)
        out = {}
        for code, count in zip(uniques.tolist(), counts.tolist(), strict=True):
            out[_code_key(int(code))] = int(count)
        for value in data[~np.isfinite(data)].tolist():
            key = number_key(value)
            out[key] = out.get(key, 0) + 1
        return out
    uniques, counts = np.unique(flat.astype(str) if flat.dtype.kind == "O" else flat, return_counts=True)
    if flat.dtype.kind == "b":
        return {f"label:{'true' if v else 'false'}": int(c) for v, c in zip(uniques.tolist(), counts, strict=True)}
    return {f"label:{v}": int(c) for v, c in zip(uniques.tolist(), counts, strict=True)}


def _code_key(code: int) -> str:
    if code == 0:
        return "num:0"
    magnitude = abs(code) - 1
    step = -(magnitude // 2) if magnitude % 2 else magnitude // 2
    return f"num:{'-' if code < 0 else '+'}{step}"


@dataclass
class VariantWindow:
    """Counts for one variant over one window; add with ``add_*``, combine with ``merge``."""

    requests: int = 0
    rows: int = 0
    errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)
    predictions: dict[str, int] = field(default_factory=dict)
    compared_requests: int = 0
    compared_rows: int = 0
    agreed_rows: int = 0
    delta_sum: float = 0.0
    delta_abs_sum: float = 0.0
    latency_delta_sum: float = 0.0
    """Sum over compared requests of (this variant's latency minus the reference's)."""
    dropped: int = 0
    """Copies not made because the shadow queue was full (shadow and mirror kinds)."""

    # -- recording ----------------------------------------------------------------------
    def add_request(self, seconds: float, rows: int, prediction: np.ndarray | None = None) -> None:
        self.requests += 1
        self.rows += rows
        index = latency_bucket(seconds)
        self.latency[index] = self.latency.get(index, 0) + 1
        if prediction is not None and len(prediction):
            self.add_counts(prediction_counts(prediction))

    def add_error(self, seconds: float | None = None) -> None:
        self.requests += 1
        self.errors += 1
        if seconds is not None:
            index = latency_bucket(seconds)
            self.latency[index] = self.latency.get(index, 0) + 1

    def add_counts(self, counts: Mapping[str, int]) -> None:
        predictions = self.predictions
        for key, count in counts.items():
            full = key not in predictions and key.startswith("label:") and len(predictions) >= MAX_LABELS
            slot = OTHER if full else key
            predictions[slot] = predictions.get(slot, 0) + count

    def add_comparison(
        self, rows: int, agreed: int, delta_sum: float, delta_abs_sum: float, latency_delta: float
    ) -> None:
        self.compared_requests += 1
        self.compared_rows += rows
        self.agreed_rows += agreed
        self.delta_sum += delta_sum
        self.delta_abs_sum += delta_abs_sum
        self.latency_delta_sum += latency_delta

    # -- combining ----------------------------------------------------------------------
    def merge(self, other: VariantWindow) -> None:
        self.requests += other.requests
        self.rows += other.rows
        self.errors += other.errors
        for index, count in other.latency.items():
            self.latency[index] = self.latency.get(index, 0) + count
        predictions = self.predictions
        for key, count in other.predictions.items():
            full = key not in predictions and key.startswith("label:") and len(predictions) >= MAX_LABELS
            slot = OTHER if full else key
            predictions[slot] = predictions.get(slot, 0) + count
        self.compared_requests += other.compared_requests
        self.compared_rows += other.compared_rows
        self.agreed_rows += other.agreed_rows
        self.delta_sum += other.delta_sum
        self.delta_abs_sum += other.delta_abs_sum
        self.latency_delta_sum += other.latency_delta_sum
        self.dropped += other.dropped

    @classmethod
    def merged(cls, windows: Iterable[VariantWindow]) -> VariantWindow:
        out = cls()
        for window in windows:
            out.merge(window)
        return out

    # -- reading ------------------------------------------------------------------------
    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        """The latency at quantile ``q`` (0-1), as the upper edge of its bucket."""
        total = sum(self.latency.values())
        if not total:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.latency):
            seen += self.latency[index]
            if seen >= rank:
                return bucket_upper(index)
        return bucket_upper(max(self.latency))

    @property
    def agreement(self) -> float | None:
        return self.agreed_rows / self.compared_rows if self.compared_rows else None

    @property
    def mean_delta(self) -> float | None:
        return self.delta_sum / self.compared_rows if self.compared_rows else None

    @property
    def mean_abs_delta(self) -> float | None:
        return self.delta_abs_sum / self.compared_rows if self.compared_rows else None

    @property
    def mean_latency_delta(self) -> float | None:
        return self.latency_delta_sum / self.compared_requests if self.compared_requests else None

    # -- storage ------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rows": self.rows,
            "errors": self.errors,
            "latency": {str(k): v for k, v in sorted(self.latency.items())},
            "predictions": dict(self.predictions),
            "compared_requests": self.compared_requests,
            "compared_rows": self.compared_rows,
            "agreed_rows": self.agreed_rows,
            "delta_sum": _finite(self.delta_sum),
            "delta_abs_sum": _finite(self.delta_abs_sum),
            "latency_delta_sum": _finite(self.latency_delta_sum),
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, text: str) -> VariantWindow:
        data: Mapping[str, Any] = json.loads(text)
        return cls(
            requests=int(data.get("requests", 0)),
            rows=int(data.get("rows", 0)),
            errors=int(data.get("errors", 0)),
            latency={int(k): int(v) for k, v in data.get("latency", {}).items()},
            predictions={str(k): int(v) for k, v in data.get("predictions", {}).items()},
            compared_requests=int(data.get("compared_requests", 0)),
            compared_rows=int(data.get("compared_rows", 0)),
            agreed_rows=int(data.get("agreed_rows", 0)),
            delta_sum=float(data.get("delta_sum", 0.0)),
            delta_abs_sum=float(data.get("delta_abs_sum", 0.0)),
            latency_delta_sum=float(data.get("latency_delta_sum", 0.0)),
            dropped=int(data.get("dropped", 0)),
        )

    def copy(self) -> VariantWindow:
        out = VariantWindow()
        out.merge(self)
        return out


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
