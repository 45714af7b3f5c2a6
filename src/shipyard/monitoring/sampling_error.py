"""Standard errors of the live performance figures: how much a window's figure moves by chance.

A window of ``n`` labelled rows is a sample; its accuracy is an estimate of the model's
accuracy on that traffic, off by about one standard error (SE). The methods, per figure:

- accuracy, binary precision and recall: binomial, ``sqrt(p (1 - p) / m)`` with ``m`` the
  rows the proportion is over (all rows, predicted positives, actual positives).
- F1, and precision/recall of a multiclass average: a bootstrap of the confusion matrix
  (resampling ``n`` rows with replacement is a multinomial draw over its cells), ``B`` draws.
- binary ROC AUC: Hanley and McNeil (1982).
- log loss and MAE: the standard error of a mean of per-row losses, ``s / sqrt(n)``.
- RMSE: the delta method on the mean squared error, ``SE(MSE) / (2 RMSE)``.
- R²: the delta method on the ratio of the two mean squares.

Figures a method does not cover (multiclass ROC AUC) have no standard error (None).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
BOOTSTRAP_DRAWS = 400
SEED = 0


def proportion(p: float | None, m: int) -> float | None:
    """Binomial SE of a proportion ``p`` over ``m`` trials."""
    if p is None or m <= 0:
        return None
    return math.sqrt(max(p * (1.0 - p), 0.0) / m)


def mean_of(values: Array) -> float | None:
    """SE of the mean of ``values`` (sample standard deviation over sqrt(n))."""
    n = len(values)
    if n < 2:
        return None
    return float(np.std(values, ddof=1) / math.sqrt(n))


def rmse(errors: Array, value: float | None) -> float | None:
    """Delta-method SE of the root mean squared error."""
    se_mse = mean_of(errors**2)
    if se_mse is None or value is None or value == 0.0:
        return None
    return se_mse / (2.0 * value)


def hanley_mcneil(auc: float | None, positives: int, negatives: int) -> float | None:
    """SE of a binary ROC AUC from its value and the two class counts (Hanley & McNeil 1982)."""
    if auc is None or positives < 1 or negatives < 1:
        return None
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
        positives * negatives
    )
    return math.sqrt(max(var, 0.0))


def confusion_metrics(cm: Array, average: str, pos: int | None) -> dict[str, Array]:
    """Precision, recall and F1 from confusion matrices ``cm`` (draws x true x predicted).

    NaN where a class's figure is undefined; averaged as scikit-learn does with
    ``zero_division=nan`` (classes whose figure is NaN are left out of a macro/weighted mean).
    """
    diag = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    actual = cm.sum(axis=2).astype(np.float64)
    predicted = cm.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = {
            "precision": diag / predicted,
            "recall": diag / actual,
            "f1": 2.0 * diag / (actual + predicted),
        }
        if average == "binary" and pos is not None:
            return {k: v[:, pos] for k, v in per_class.items()}
        if average == "micro":
            total = cm.sum(axis=(1, 2)).astype(np.float64)
            micro = diag.sum(axis=1) / total
            return dict.fromkeys(per_class, micro)
        out: dict[str, Array] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws stay NaN
            for name, values in per_class.items():
                if average == "weighted":
                    weights = np.where(np.isnan(values), 0.0, actual)
                    out[name] = np.nansum(values * weights, axis=1) / weights.sum(axis=1)
                else:
                    out[name] = np.nanmean(values, axis=1)
        return out


def confusion_bootstrap(
    cm: Array, average: str, pos: int | None, draws: int = BOOTSTRAP_DRAWS
) -> dict[str, float | None]:
    """Bootstrap SEs of precision, recall and F1 from one confusion matrix."""
    n = int(cm.sum())
    if n < 2:
        return dict.fromkeys(("precision", "recall", "f1"))
    rng = np.random.default_rng(SEED)
    cells = cm.reshape(-1).astype(np.float64) / n
    sampled = rng.multinomial(n, cells, size=draws).reshape(draws, *cm.shape)
    result: dict[str, float | None] = {}
    for name, values in confusion_metrics(sampled, average, pos).items():
        finite = values[np.isfinite(values)]
        result[name] = float(np.std(finite, ddof=1)) if len(finite) >= 2 else None
    return result


def r2(y_true: Array, y_pred: Array) -> float | None:
    """Delta-method SE of R² = 1 - mean(a) / mean(b), a = (y - ŷ)², b = (y - ȳ)²:
    ``sd(a - r b) / (sqrt(n) mean(b))`` with ``r = mean(a) / mean(b)``."""
    n = len(y_true)
    if n < 3:
        return None
    a = (y_true - y_pred) ** 2
    b = (y_true - y_true.mean()) ** 2
    mean_b = float(b.mean())
    if mean_b == 0.0:
        return None
    ratio = float(a.mean()) / mean_b
    return float(np.std(a - ratio * b, ddof=1) / (math.sqrt(n) * mean_b))
