"""Live performance once labels arrive: scikit-learn's metrics on a window of labelled rows.

Classification: accuracy, precision, recall, F1, ROC AUC and log loss. Binary when there
are at most two classes: precision, recall and F1 are those of ``pos_label`` (default 1
for 0/1 or -1/1 labels, True for booleans, else the greater label, which is the class of
``predict_proba[:, 1]`` in scikit-learn). Multiclass: precision, recall and F1 are averaged
over classes by ``average`` (``macro`` by default; ``weighted`` and ``micro`` too), ROC AUC
is one-vs-rest, macro-averaged, and needs every class in the window.

Regression: MAE, RMSE and R².

A figure that is undefined in a window (no positives, one class only, a constant target)
is None with the reason, never an error; every defined figure has its standard error
(``shipyard.monitoring.sampling_error``). ``performance_by`` splits rows by key (window,
version, variant) and computes the figures per group over the classes of all rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from shipyard.errors import InvalidRequest
from shipyard.monitoring import sampling_error
from shipyard.monitoring.labels import (
    Array,
    check_label,
    classes_of,
    finite_or_none,
    group_rows,
    no_missing,
    plain,
    same_length,
    scores,
    vector,
)

AVERAGES = ("macro", "weighted", "micro")
HIGHER_IS_BETTER = {"accuracy": True, "precision": True, "recall": True, "f1": True, "roc_auc": True, "r2": True}
LOWER_IS_BETTER = {"log_loss": False, "mae": False, "rmse": False}
EMPTY = "no labelled rows in the window"


@dataclass(frozen=True)
class Figure:
    """One metric of one window: its value (None when undefined, with the reason) and SE."""

    value: float | None
    std_error: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "std_error": self.std_error}
        if self.reason:
            out["reason"] = self.reason
        return out


def _undefined(reason: str) -> Figure:
    return Figure(None, None, reason)


@dataclass(frozen=True)
class ClassificationPerformance:
    rows: int
    classes: tuple[Any, ...]
    pos_label: Any
    """The positive class when binary, else None."""
    average: str
    """``binary`` or the multiclass average of precision, recall and F1."""
    confusion: tuple[tuple[int, ...], ...]
    """Rows are true classes, columns predicted, both in ``classes`` order."""
    metrics: dict[str, Figure] = field(default_factory=dict)
    task: str = "classification"

    def value(self, name: str) -> float | None:
        figure = self.metrics.get(name)
        return figure.value if figure else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "classes": list(self.classes),
            "pos_label": self.pos_label,
            "average": self.average,
            "confusion": [list(r) for r in self.confusion],
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


@dataclass(frozen=True)
class RegressionPerformance:
    rows: int
    metrics: dict[str, Figure] = field(default_factory=dict)
    task: str = "regression"

    def value(self, name: str) -> float | None:
        figure = self.metrics.get(name)
        return figure.value if figure else None

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "rows": self.rows, "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}


Performance = ClassificationPerformance | RegressionPerformance


def _default_pos_label(classes: Sequence[Any]) -> Any:
    if set(classes) <= {0, 1} or set(classes) <= {-1, 1}:
        return True if any(isinstance(c, bool) for c in classes) else 1
    return classes[-1]


def resolve_classes(
    y_true: Array, y_pred: Array, classes: Sequence[Any] | None, pos_label: Any
) -> tuple[list[Any], Any]:
    """The class list (given, or seen) and the positive class (None when multiclass)."""
    seen = classes_of(y_true, y_pred)
    if classes is not None:
        known = [plain(c) for c in classes]
        unknown = [c for c in seen if not any(c == k for k in known)]
        if unknown:
            raise InvalidRequest(f"labels {unknown} are not among the classes {known}")
    else:
        known = seen
        if pos_label is not None and len(known) < 2 and not any(pos_label == k for k in known):
            known = classes_of(np.asarray([*known, pos_label], dtype=object))
    if len(known) > 2:
        if pos_label is not None:
            raise InvalidRequest(f"pos_label applies to binary labels; there are {len(known)} classes: {known}")
        return known, None
    if pos_label is None:
        return known, _default_pos_label(known) if known else None
    return known, check_label(pos_label, known)


def _binary_scores(y_score: Array, classes: Sequence[Any], pos: Any) -> Array:
    if y_score.ndim == 1:
        return y_score
    if y_score.shape[1] != len(classes) or len(classes) != 2:
        raise InvalidRequest(f"y_score has {y_score.shape[1]} columns for the classes {list(classes)}")
    return np.asarray(y_score[:, list(classes).index(pos)], dtype=np.float64)


def _is_probability(y_score: Array) -> str | None:
    if ((y_score < 0) | (y_score > 1)).any():
        return "y_score is not probabilities (values outside [0, 1])"
    if y_score.ndim == 2 and not np.allclose(y_score.sum(axis=1), 1.0, atol=1e-6):
        return "y_score rows do not sum to 1: not probabilities"
    return None


def _row_log_loss(p_true: Array) -> Array:
    eps = float(np.finfo(np.float64).eps)
    return np.asarray(-np.log(np.clip(p_true, eps, 1.0)), dtype=np.float64)


def _score_figures(y_true: Array, y_score: Array, classes: list[Any], pos: Any, binary: bool) -> dict[str, Figure]:
    not_proba = _is_probability(y_score)
    out: dict[str, Figure] = {}
    index = {c: i for i, c in enumerate(classes)}
    if binary:
        s = _binary_scores(y_score, classes, pos)
        positive = np.asarray([plain(v) == pos for v in y_true.tolist()], dtype=bool)
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_pos == 0 or n_neg == 0:
            out["roc_auc"] = _undefined("only one class in y_true: ROC AUC is undefined")
        else:
            auc = float(skm.roc_auc_score(positive, s))
            out["roc_auc"] = Figure(auc, sampling_error.hanley_mcneil(auc, n_pos, n_neg))
        if not_proba:
            out["log_loss"] = _undefined(not_proba)
        else:
            value = float(skm.log_loss(positive, s, labels=[False, True]))
            p_true = np.where(positive, s, 1.0 - s)
            out["log_loss"] = Figure(value, sampling_error.mean_of(_row_log_loss(p_true)))
        return out
    if y_score.ndim != 2 or y_score.shape[1] != len(classes):
        raise InvalidRequest(
            f"multiclass y_score must be rows x {len(classes)} classes, got shape {list(y_score.shape)}"
        )
    if not_proba:
        return {"roc_auc": _undefined(not_proba), "log_loss": _undefined(not_proba)}
    present = set(classes_of(y_true))
    absent = [c for c in classes if c not in present]
    if absent:
        out["roc_auc"] = _undefined(f"classes {absent} have no rows in y_true: one-vs-rest ROC AUC is undefined")
    else:
        auc = float(skm.roc_auc_score(y_true, y_score, multi_class="ovr", average="macro", labels=classes))
        out["roc_auc"] = Figure(auc, None, None)
    value = float(skm.log_loss(y_true, y_score, labels=classes))
    p_true = y_score[np.arange(len(y_true)), [index[plain(v)] for v in y_true.tolist()]]
    out["log_loss"] = Figure(value, sampling_error.mean_of(_row_log_loss(p_true)))
    return out


def _label_figures(
    y_true: Array, y_pred: Array, classes: list[Any], pos: Any, average: str
) -> tuple[dict[str, Figure], Array]:
    n = len(y_true)
    cm = skm.confusion_matrix(y_true, y_pred, labels=classes)
    accuracy = float(skm.accuracy_score(y_true, y_pred))
    out = {"accuracy": Figure(accuracy, sampling_error.proportion(accuracy, n))}
    kwargs: dict[str, Any] = {"labels": classes, "zero_division": np.nan}
    if pos is not None:
        kwargs.update(average="binary", pos_label=pos)
    else:
        kwargs.update(average=average)
    p = finite_or_none(skm.precision_score(y_true, y_pred, **kwargs))
    r = finite_or_none(skm.recall_score(y_true, y_pred, **kwargs))
    f = finite_or_none(skm.f1_score(y_true, y_pred, **kwargs))
    pos_index = classes.index(pos) if pos is not None else None
    boot = sampling_error.confusion_bootstrap(cm, kwargs["average"], pos_index)
    if pos_index is not None:
        predicted, actual = int(cm[:, pos_index].sum()), int(cm[pos_index, :].sum())
        out["precision"] = (
            Figure(p, sampling_error.proportion(p, predicted))
            if p is not None
            else _undefined("no predicted positives: precision is undefined")
        )
        out["recall"] = (
            Figure(r, sampling_error.proportion(r, actual))
            if r is not None
            else _undefined("no actual positives: recall is undefined")
        )
        out["f1"] = (
            Figure(f, boot["f1"]) if f is not None else _undefined("no predicted or actual positives: F1 is undefined")
        )
    else:
        reason = f"undefined for every class ({average} average)"
        out["precision"] = Figure(p, boot["precision"]) if p is not None else _undefined(reason)
        out["recall"] = Figure(r, boot["recall"]) if r is not None else _undefined(reason)
        out["f1"] = Figure(f, boot["f1"]) if f is not None else _undefined(reason)
    return out, cm


def classification_performance(
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
    average: str = "macro",
) -> ClassificationPerformance:
    """Accuracy, precision, recall, F1 (and ROC AUC, log loss with ``y_score``) of one window.

    ``y_score``: binary, the score or probability of ``pos_label`` (1-D) or ``predict_proba``
    (rows x 2, columns in ``classes`` order); multiclass, ``predict_proba`` in ``classes``
    order. ``classes`` defaults to the labels seen in ``y_true`` and ``y_pred``.
    """
    if average not in AVERAGES:
        raise InvalidRequest(f"average must be one of {', '.join(AVERAGES)}, not {average!r}")
    t = no_missing(vector(y_true, "y_true"), "y_true")
    p = no_missing(vector(y_pred, "y_pred"), "y_pred")
    score = scores(y_score, "y_score") if y_score is not None else None
    n = same_length(y_true=t, y_pred=p, **({"y_score": score} if score is not None else {}))
    known, pos = resolve_classes(t, p, classes, pos_label)
    binary = len(known) <= 2
    mode = "binary" if binary else average
    if n == 0:
        names = ["accuracy", "precision", "recall", "f1"] + (["roc_auc", "log_loss"] if score is not None else [])
        return ClassificationPerformance(0, tuple(known), pos, mode, (), {k: _undefined(EMPTY) for k in names})
    # Plain Python values: numpy's mixed-type comparisons then behave like the class list.
    t = np.asarray([plain(v) for v in t.tolist()], dtype=object) if t.dtype.kind == "O" else t
    p = np.asarray([plain(v) for v in p.tolist()], dtype=object) if p.dtype.kind == "O" else p
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            figures, cm = _label_figures(t, p, known, pos, average)
            if score is not None:
                figures.update(_score_figures(t, score, known, pos, binary))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"cannot compare these labels: {exc}") from exc
    confusion = tuple(tuple(int(x) for x in row) for row in cm)
    return ClassificationPerformance(n, tuple(known), pos, mode, confusion, figures)


def regression_performance(y_true: Any, y_pred: Any) -> RegressionPerformance:
    """MAE, RMSE and R² of one window (R² is undefined for fewer than 2 rows or a constant target)."""
    t = scores(no_missing(vector(y_true, "y_true"), "y_true"), "y_true")
    p = scores(no_missing(vector(y_pred, "y_pred"), "y_pred"), "y_pred")
    n = same_length(y_true=t, y_pred=p)
    if t.ndim != 1 or p.ndim != 1:
        raise InvalidRequest("regression figures take one target value per row")
    if n == 0:
        return RegressionPerformance(0, {k: _undefined(EMPTY) for k in ("mae", "rmse", "r2")})
    errors = t - p
    mae = float(skm.mean_absolute_error(t, p))
    rmse = float(skm.root_mean_squared_error(t, p))
    figures = {
        "mae": Figure(mae, sampling_error.mean_of(np.abs(errors))),
        "rmse": Figure(rmse, sampling_error.rmse(errors, rmse)),
    }
    if n < 2:
        figures["r2"] = _undefined("fewer than 2 rows: R² is undefined")
    elif np.all(t == t[0]):
        figures["r2"] = _undefined("y_true is constant: R² is undefined")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r2 = finite_or_none(skm.r2_score(t, p, force_finite=False))
        figures["r2"] = Figure(r2, sampling_error.r2(t, p))
    return RegressionPerformance(n, figures)


def performance_by(
    keys: Any,
    y_true: Any,
    y_pred: Any,
    y_score: Any = None,
    *,
    task: str = "classification",
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
    average: str = "macro",
) -> dict[Hashable, Performance]:
    """The figures per key (a window, version, variant, or a tuple of them: ``keys`` may be
    a frame or mapping of several key columns). Classification uses the classes of all rows."""
    if task not in ("classification", "regression"):
        raise InvalidRequest(f"task must be 'classification' or 'regression', not {task!r}")
    t, p = vector(y_true, "y_true"), vector(y_pred, "y_pred")
    score = scores(y_score, "y_score") if y_score is not None else None
    n = same_length(y_true=t, y_pred=p, **({"y_score": score} if score is not None else {}))
    result: dict[Hashable, Performance] = {}
    if task == "regression":
        for key, rows in group_rows(keys, n, "keys"):
            result[key] = regression_performance(t[rows], p[rows])
        return result
    known, pos = resolve_classes(no_missing(t, "y_true"), no_missing(p, "y_pred"), classes, pos_label)
    for key, rows in group_rows(keys, n, "keys"):
        result[key] = classification_performance(
            t[rows],
            p[rows],
            score[rows] if score is not None else None,
            classes=known,
            pos_label=pos,
            average=average,
        )
    return result
