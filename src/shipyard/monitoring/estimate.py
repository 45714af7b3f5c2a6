"""Estimated classification performance while labels are missing (confidence-based, as CBPE).

The idea behind NannyML's CBPE: if a model's scores are *calibrated* — among rows given
probability ``p`` of class ``c``, a fraction ``p`` is truly ``c`` — then a window's expected
confusion matrix follows from its scores alone, labels or not.

1. **Fit** on reference rows with labels (a held-out evaluation set, or a labelled window):
   one isotonic regression per class (scikit-learn, one-vs-rest; binary: the positive
   class) maps a raw score to ``P(y = c | score)``; multiclass rows are renormalised to 1.
2. **Estimate** a window: calibrated probabilities ``P[i, c]``, predictions ``ŷ_i``, and the
   expected confusion matrix ``C[a, b] = Σ_{i: ŷ_i = b} P[i, a]``. Accuracy is ``trace(C)/n``
   (exactly its expectation); precision, recall and F1 are those of ``C`` (ratios of
   expectations), averaged as ``shipyard.monitoring.performance`` does. ROC AUC is the
   Mann-Whitney statistic with each row a positive of weight ``P[i, c]`` and a negative of
   weight ``1 - P[i, c]`` (self-pairs left out); multiclass: one-vs-rest, macro.
3. **Trust.**
   - *Sampling band*: labels drawn from the calibrated probabilities (``draws`` Monte Carlo
     draws) give the distribution of the metric the window will really show; the band is its
     central ``level`` interval and ``std_error`` its standard deviation. It assumes the
     calibration holds on the window.
   - *Calibration error*: the expected calibration error (10 equal-width bins, per class,
     mean over classes) of out-of-fold calibrated reference probabilities (5 folds), and the
     estimate on the reference next to the realized reference figure.
   - *Confidence shift*: the share of window scores outside the reference's score range, and
     the PSI of the window's scores against the reference's (10 reference-quantile bins).
     The calibration was learned where the reference had scores; far from them it is an
     extrapolation, and a warning says so.

What it cannot see: concept drift. If ``P(y | x)`` changes, scores stay the same and so does
the estimate; only labels reveal that (``shipyard.monitoring.concept``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from shipyard.errors import InvalidRequest
from shipyard.monitoring import sampling_error
from shipyard.monitoring.labels import Array, no_missing, plain, same_length, scores, vector
from shipyard.monitoring.performance import AVERAGES, resolve_classes

ECE_BINS = 10
PSI_BINS = 10
PSI_WARN = 0.25
OUTSIDE_WARN = 0.01
ECE_WARN = 0.05
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True)
class Estimate:
    value: float | None
    std_error: float | None = None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "std_error": self.std_error,
            "lower": self.lower,
            "upper": self.upper,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class EstimatedPerformance:
    rows: int
    classes: tuple[Any, ...]
    pos_label: Any
    average: str
    level: float
    metrics: dict[str, Estimate]
    calibration_error: float
    """Out-of-fold expected calibration error of the calibrated reference probabilities."""
    reference: dict[str, dict[str, float | None]]
    """Per metric: the estimate on the (out-of-fold) reference and its realized value."""
    outside_range_share: float | None
    psi: float | None
    warnings: tuple[str, ...] = ()

    def value(self, name: str) -> float | None:
        estimate = self.metrics.get(name)
        return estimate.value if estimate else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "classes": list(self.classes),
            "pos_label": self.pos_label,
            "average": self.average,
            "level": self.level,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "calibration_error": self.calibration_error,
            "reference": self.reference,
            "outside_range_share": self.outside_range_share,
            "psi": self.psi,
            "warnings": list(self.warnings),
        }


def _isotonic(x: Array, y: Array) -> tuple[Array, Array]:
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
    return np.asarray(model.X_thresholds_, dtype=np.float64), np.asarray(model.y_thresholds_, dtype=np.float64)


def _apply(curve: tuple[Array, Array], x: Array) -> Array:
    xs, ys = curve
    return np.interp(x, xs, ys)  # constant beyond the ends, as out_of_bounds="clip"


def _calibrated_columns(y_score: Array, n_classes: int, binary: bool, pos: int) -> Array:
    """The score columns calibrated: binary, the positive class's (one column); multiclass, all."""
    if binary:
        if y_score.ndim == 1:
            return y_score[:, None]
        if y_score.shape[1] != 2:
            raise InvalidRequest(f"binary y_score must be 1-D or rows x 2, got shape {list(y_score.shape)}")
        return y_score[:, [pos]]
    if y_score.ndim != 2 or y_score.shape[1] != n_classes:
        raise InvalidRequest(f"multiclass y_score must be rows x {n_classes} classes, got shape {list(y_score.shape)}")
    return y_score


def _probabilities(curves: Sequence[tuple[Array, Array]], cols: Array, pos: int) -> Array:
    """Calibrated class probabilities (rows x classes, in class order)."""
    if len(curves) == 1:
        p = np.clip(_apply(curves[0], cols[:, 0]), 0.0, 1.0)
        return np.column_stack([p, 1.0 - p] if pos == 0 else [1.0 - p, p])
    raw = np.column_stack([_apply(c, cols[:, j]) for j, c in enumerate(curves)])
    total = raw.sum(axis=1, keepdims=True)
    safe = np.where(total > 0, total, 1.0)
    return np.asarray(np.where(total > 0, raw / safe, 1.0 / raw.shape[1]))


def _expected_confusion(p: Array, pred: Array) -> Array:
    k = p.shape[1]
    cm = np.zeros((k, k))
    for b in range(k):
        cm[:, b] = p[pred == b].sum(axis=0)
    return cm


def _weighted_auc(score: Array, w: Array) -> float | None:
    """Expected Mann-Whitney AUC: row i is positive with probability w_i (self-pairs excluded)."""
    neg = 1.0 - w
    values, inverse = np.unique(score, return_inverse=True)
    neg_at = np.bincount(inverse, weights=neg, minlength=len(values))
    below = np.concatenate([[0.0], np.cumsum(neg_at)[:-1]])
    ties = neg_at[inverse] - neg  # negatives at the same score, the row itself left out
    numerator = float((w * (below[inverse] + 0.5 * ties)).sum())
    denominator = float(w.sum() * neg.sum() - (w * neg).sum())
    return numerator / denominator if denominator > 0 else None


def _point(
    p: Array, pred: Array, auc_scores: Array, *, binary: bool, pos: int, average: str
) -> dict[str, float | None]:
    cm = _expected_confusion(p, pred)
    n = p.shape[0]
    figures = sampling_error.confusion_metrics(cm[None], "binary" if binary else average, pos if binary else None)
    out: dict[str, float | None] = {"accuracy": float(np.trace(cm) / n)}
    for name, values in figures.items():
        v = float(values[0])
        out[name] = v if math.isfinite(v) else None
    classes = [pos] if binary else list(range(p.shape[1]))
    aucs = [_weighted_auc(auc_scores[:, j], p[:, c]) for j, c in enumerate(classes)]
    out["roc_auc"] = float(np.mean(aucs)) if aucs and all(a is not None for a in aucs) else None  # type: ignore[arg-type]
    return out


def _ranks(auc_scores: Array) -> Array:
    """Mid-ranks of each score column (ties share their mean rank), computed once per window."""
    return np.column_stack([rankdata(auc_scores[:, j]) for j in range(auc_scores.shape[1])])


def _realized(
    labels: Array, pred: Array, ranks: Array, *, k: int, binary: bool, pos: int, average: str
) -> dict[str, Array]:
    """Metrics of label draws (draws x rows of class indices): one value per draw. ROC AUC
    from mid-ranks: (sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0)."""
    draws, n = labels.shape
    flat = (np.arange(draws)[:, None] * k * k + labels * k + pred[None, :]).ravel()
    cm = np.bincount(flat, minlength=draws * k * k).reshape(draws, k, k)
    out = {"accuracy": np.trace(cm, axis1=1, axis2=2) / n}
    out.update(sampling_error.confusion_metrics(cm, "binary" if binary else average, pos if binary else None))
    classes = [pos] if binary else list(range(k))
    aucs = []
    for j, c in enumerate(classes):
        is_c = labels == c
        n1 = is_c.sum(axis=1).astype(np.float64)
        n0 = n - n1
        with np.errstate(divide="ignore", invalid="ignore"):
            aucs.append((is_c @ ranks[:, j] - n1 * (n1 + 1) / 2.0) / (n1 * n0))
    out["roc_auc"] = np.mean(aucs, axis=0)
    return out


def _ece(p: Array, truth: Array, columns: Sequence[int]) -> float:
    """Expected calibration error per class column (equal-width bins), mean over ``columns``."""
    errors = []
    for c in columns:
        prob, hit = p[:, c], (truth == c).astype(np.float64)
        bins = np.minimum((prob * ECE_BINS).astype(int), ECE_BINS - 1)
        count = np.bincount(bins, minlength=ECE_BINS)
        gap = np.abs(
            np.bincount(bins, weights=hit, minlength=ECE_BINS) - np.bincount(bins, weights=prob, minlength=ECE_BINS)
        )
        errors.append(float(gap.sum() / max(count.sum(), 1)))
    return float(np.mean(errors))


def _shares(values: Array, edges: Array) -> Array:
    """The share of ``values`` in each bin between (and beyond) ``edges``."""
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1) / len(values)


def _psi(reference: Array, current: Array, edges: Array) -> float:
    """PSI of ``current`` values against the reference's bin shares, each floored at 1e-4."""
    eps = 1e-4
    ref, cur = np.maximum(reference, eps), np.maximum(_shares(current, edges), eps)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _confidence(cols: Array) -> Array:
    """The one score per row whose distribution is compared (binary: the calibrated column)."""
    return cols[:, 0] if cols.shape[1] == 1 else np.asarray(cols.max(axis=1))


@dataclass
class PerformanceEstimator:
    """Calibration learned on labelled reference rows; ``estimate`` applies it to a window."""

    classes: list[Any]
    pos_label: Any
    average: str
    curves: list[tuple[Array, Array]]
    score_range: tuple[Array, Array]
    psi_edges: Array
    psi_reference: Array
    """The share of reference scores in each PSI bin."""
    calibration_error: float
    reference: dict[str, dict[str, float | None]] = field(default_factory=dict)
    draws: int = 400
    level: float = 0.95
    seed: int = 0

    @property
    def binary(self) -> bool:
        return len(self.classes) <= 2

    def to_dict(self) -> dict[str, Any]:
        """The fitted calibration as JSON, to store with a version and reuse without refitting."""
        return {
            "version": 1,
            "classes": list(self.classes),
            "pos_label": self.pos_label,
            "average": self.average,
            "curves": [[xs.tolist(), ys.tolist()] for xs, ys in self.curves],
            "score_range": [self.score_range[0].tolist(), self.score_range[1].tolist()],
            "psi_edges": self.psi_edges.tolist(),
            "psi_reference": self.psi_reference.tolist(),
            "calibration_error": self.calibration_error,
            "reference": self.reference,
            "draws": self.draws,
            "level": self.level,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceEstimator:
        try:
            if data["version"] != 1:
                raise InvalidRequest(f"unknown estimator version {data['version']!r}")
            estimator = cls(
                classes=list(data["classes"]),
                pos_label=data["pos_label"],
                average=str(data["average"]),
                curves=[(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)) for x, y in data["curves"]],
                score_range=(
                    np.asarray(data["score_range"][0], dtype=np.float64),
                    np.asarray(data["score_range"][1], dtype=np.float64),
                ),
                psi_edges=np.asarray(data["psi_edges"], dtype=np.float64),
                psi_reference=np.asarray(data["psi_reference"], dtype=np.float64),
                calibration_error=float(data["calibration_error"]),
                reference=dict(data["reference"]),
                draws=int(data["draws"]),
                level=float(data["level"]),
                seed=int(data["seed"]),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidRequest(f"not a stored performance estimator: {exc!r}") from exc
        expected = 1 if estimator.binary else len(estimator.classes)
        if len(estimator.curves) != expected or any(len(x) != len(y) or not len(x) for x, y in estimator.curves):
            raise InvalidRequest("not a stored performance estimator: its calibration curves do not fit its classes")
        return estimator

    @classmethod
    def fit(
        cls,
        y_true: Any,
        y_score: Any,
        y_pred: Any = None,
        *,
        classes: Sequence[Any] | None = None,
        pos_label: Any = None,
        average: str = "macro",
        folds: int = 5,
        draws: int = 400,
        level: float = 0.95,
    ) -> PerformanceEstimator:
        """Calibrate on reference rows with labels (``y_score`` and ``y_pred`` as for
        ``estimate``). ``folds`` splits the reference for the out-of-fold calibration error;
        ``draws`` and ``level`` set the Monte Carlo sampling band of every estimate."""
        if folds < 2:
            raise InvalidRequest(f"folds must be at least 2, not {folds}")
        if average not in AVERAGES:
            raise InvalidRequest(f"average must be one of {', '.join(AVERAGES)}, not {average!r}")
        if not 0 < level < 1:
            raise InvalidRequest(f"level must be between 0 and 1, not {level!r}")
        if draws < 20:
            raise InvalidRequest(f"draws must be at least 20, not {draws}")
        t = no_missing(vector(y_true, "y_true"), "y_true")
        s = scores(y_score, "y_score")
        known, pos_value = resolve_classes(t, t if y_pred is None else vector(y_pred, "y_pred"), classes, pos_label)
        if len(known) < 2:
            raise InvalidRequest(f"the reference has one class only ({known}): nothing to calibrate against")
        binary = len(known) == 2
        index = {c: i for i, c in enumerate(known)}
        pos = index[pos_value] if binary else 0
        cols = _calibrated_columns(s, len(known), binary, pos)
        n = same_length(y_true=t, y_score=cols)
        truth = np.asarray([index[plain(v)] for v in t.tolist()], dtype=np.int64)
        targets = [pos] if binary else list(range(len(known)))
        counts = np.bincount(truth, minlength=len(known))
        if n < 2 * folds or counts.min() < folds:
            raise InvalidRequest(
                f"the reference needs at least {folds} labelled rows of every class (has {counts.tolist()})"
            )
        curves = [_isotonic(cols[:, j], (truth == c).astype(np.float64)) for j, c in enumerate(targets)]
        # Out of fold: how well calibration learned on other rows transfers to unseen ones.
        order = np.random.default_rng(0).permutation(n)
        oof = np.zeros((n, len(known)))
        for fold in np.array_split(order, folds):
            rest = np.setdiff1d(order, fold)
            fold_curves = [
                _isotonic(cols[rest, j], (truth[rest] == c).astype(np.float64)) for j, c in enumerate(targets)
            ]
            oof[fold] = _probabilities(fold_curves, cols[fold], pos)
        pred = _predictions(y_pred, s, known, binary, pos)
        estimated = _point(oof, pred, cols, binary=binary, pos=pos, average=average)
        drawn = _realized(truth[None, :], pred, _ranks(cols), k=len(known), binary=binary, pos=pos, average=average)
        realized = {k: float(v[0]) for k, v in drawn.items()}
        reference = {
            m: {"estimated": estimated[m], "realized": realized[m] if math.isfinite(realized[m]) else None}
            for m in METRICS
        }
        confidence = _confidence(cols)
        edges = np.unique(np.quantile(confidence, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
        return cls(
            classes=known,
            pos_label=pos_value if binary else None,
            average=average,
            curves=curves,
            score_range=(cols.min(axis=0), cols.max(axis=0)),
            psi_edges=edges,
            psi_reference=_shares(confidence, edges),
            calibration_error=_ece(oof, truth, targets),
            reference=reference,
            draws=draws,
            level=level,
        )

    def estimate(self, y_score: Any, y_pred: Any = None) -> EstimatedPerformance:
        """Estimated figures of an unlabelled window, with their band and warnings.

        ``y_score``: binary, the score of the positive class (1-D) or ``predict_proba`` (rows
        x 2 in ``classes`` order); multiclass, ``predict_proba``. ``y_pred`` defaults to the
        class of the highest score (binary 1-D: score >= 0.5).
        """
        binary = self.binary
        s = scores(y_score, "y_score")
        pos = self.classes.index(self.pos_label) if binary else 0
        cols = _calibrated_columns(s, len(self.classes), binary, pos)
        n = len(cols)
        mode = "binary" if binary else self.average
        if n == 0:
            empty = {m: Estimate(None, reason="no rows in the window") for m in METRICS}
            return EstimatedPerformance(
                0, tuple(self.classes), self.pos_label, mode, self.level, empty, self.calibration_error,
                self.reference, None, None, ("no rows in the window",),
            )  # fmt: skip
        pred = _predictions(y_pred, s, self.classes, binary, pos)
        p = _probabilities(self.curves, cols, pos)
        point = _point(p, pred, cols, binary=binary, pos=pos, average=self.average)
        samples = self._simulate(p, pred, cols, binary, pos)
        tail = (1.0 - self.level) / 2.0
        metrics: dict[str, Estimate] = {}
        for name in METRICS:
            value = point[name]
            drawn = samples[name][np.isfinite(samples[name])]
            if value is None:
                metrics[name] = Estimate(None, reason=f"{name} is undefined for the expected confusion of this window")
                continue
            if len(drawn) < 2:
                metrics[name] = Estimate(value, reason="too few rows for a sampling band")
                continue
            lo, hi = np.quantile(drawn, [tail, 1.0 - tail])
            metrics[name] = Estimate(value, float(np.std(drawn, ddof=1)), float(lo), float(hi))
        outside, psi, warnings = self._shift(cols)
        return EstimatedPerformance(
            n, tuple(self.classes), self.pos_label, mode, self.level, metrics, self.calibration_error,
            self.reference, outside, psi, warnings,
        )  # fmt: skip

    def _simulate(self, p: Array, pred: Array, auc_cols: Array, binary: bool, pos: int) -> dict[str, Array]:
        rng = np.random.default_rng(self.seed)
        n, k = p.shape
        cumulative = np.cumsum(p, axis=1)
        ranks = _ranks(auc_cols)
        chunk = max(1, min(self.draws, 4_000_000 // max(n, 1)))
        parts: dict[str, list[Array]] = {m: [] for m in METRICS}
        for start in range(0, self.draws, chunk):
            size = min(chunk, self.draws - start)
            u = rng.random((size, n))
            if k == 2:
                labels = (u >= cumulative[None, :, 0]).astype(np.int64)
            else:
                labels = np.minimum((u[:, :, None] >= cumulative[None, :, :]).sum(axis=2), k - 1)
            for name, values in _realized(
                labels, pred, ranks, k=k, binary=binary, pos=pos, average=self.average
            ).items():
                parts[name].append(values)
        return {m: np.concatenate(v) for m, v in parts.items()}

    def _shift(self, cols: Array) -> tuple[float, float, tuple[str, ...]]:
        lo, hi = self.score_range
        outside = float(((cols < lo) | (cols > hi)).any(axis=1).mean())
        psi = _psi(self.psi_reference, _confidence(cols), self.psi_edges)
        warnings = []
        if outside > OUTSIDE_WARN:
            warnings.append(
                f"{outside:.1%} of the window's scores are outside the reference's range: "
                "the calibration is extrapolated there"
            )
        if psi > PSI_WARN:
            warnings.append(
                f"the window's confidence distribution differs strongly from the reference's (PSI {psi:.2f}): "
                "the estimate rests on calibration learned from few reference rows like these"
            )
        if self.calibration_error > ECE_WARN:
            warnings.append(
                f"the reference calibration error is {self.calibration_error:.3f}: estimates may be off by about that"
            )
        return outside, psi, tuple(warnings)


def _predictions(y_pred: Any, y_score: Array, classes: list[Any], binary: bool, pos: int) -> Array:
    """Predicted class indices: ``y_pred`` mapped to ``classes``, or from the scores (the
    highest; binary 1-D: the positive class when its score is at least 0.5)."""
    n = len(y_score)
    if y_pred is None:
        if binary and y_score.ndim == 1:
            return np.where(y_score >= 0.5, pos, 1 - pos).astype(np.int64)
        return np.asarray(y_score.argmax(axis=1), dtype=np.int64)
    predicted = no_missing(vector(y_pred, "y_pred"), "y_pred")
    if len(predicted) != n:
        raise InvalidRequest(f"inputs differ in length: y_pred={len(predicted)}, y_score={n}")
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.asarray([index[plain(v)] for v in predicted.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise InvalidRequest(f"y_pred holds {exc.args[0]!r}, not one of the classes {classes}") from exc
