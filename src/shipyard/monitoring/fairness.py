"""Fairness of a binary classifier across groups of a sensitive attribute, as Fairlearn defines it.

The sensitive attribute need not be a model input: it may come with feedback, or from the
user's own frame (``fairness_report(y_true, y_pred, sensitive)``). Several attributes (a
frame or mapping of columns) make intersectional groups, one per combination of values.

Per group ``g`` (rows with ``A = g``), with ``ŷ`` the prediction and ``1`` the positive label:

    selection rate  P(ŷ = 1 | A = g)
    accuracy        P(ŷ = y | A = g)
    TPR             P(ŷ = 1 | y = 1, A = g)      0 when the group has no positives (Fairlearn)
    FPR             P(ŷ = 1 | y = 0, A = g)      0 when the group has no negatives (Fairlearn)

Across groups (``max`` and ``min`` over groups):

    demographic parity difference   max selection rate - min selection rate
    demographic parity ratio        min selection rate / max selection rate
    equalized odds difference       max(TPR difference, FPR difference)
    equalized odds ratio            min(TPR ratio, FPR ratio), Fairlearn's rule for undefined parts

A ratio ``0 / 0`` is undefined (Fairlearn: NaN; here: None). These equal Fairlearn 0.15's
``MetricFrame``, ``demographic_parity_difference/ratio`` and ``equalized_odds_difference/ratio``
(``method="between_groups"``, ``agg="worst_case"``). With ``undefined_rates="skip"`` a group
without positives (negatives) is left out of the TPR (FPR) comparison instead of counting as 0.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.monitoring.labels import (
    Array,
    check_label,
    classes_of,
    group_rows,
    no_missing,
    plain,
    same_length,
    vector,
)

UNDEFINED_RATES = ("zero", "skip")


@dataclass(frozen=True)
class GroupFigures:
    group: Hashable
    count: int
    positives: int
    """Rows whose true label is the positive label."""
    negatives: int
    selection_rate: float
    accuracy: float
    true_positive_rate: float
    false_positive_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": list(self.group) if isinstance(self.group, tuple) else self.group,
            "count": self.count,
            "positives": self.positives,
            "negatives": self.negatives,
            "selection_rate": self.selection_rate,
            "accuracy": self.accuracy,
            "true_positive_rate": self.true_positive_rate,
            "false_positive_rate": self.false_positive_rate,
        }


@dataclass(frozen=True)
class FairnessReport:
    pos_label: Any
    sensitive: tuple[str, ...]
    """The names of the sensitive attributes (``sensitive`` for a single unnamed one)."""
    overall: GroupFigures | None
    groups: tuple[GroupFigures, ...]
    demographic_parity_difference: float | None
    demographic_parity_ratio: float | None
    true_positive_rate_difference: float | None
    false_positive_rate_difference: float | None
    true_positive_rate_ratio: float | None
    false_positive_rate_ratio: float | None
    equalized_odds_difference: float | None
    equalized_odds_ratio: float | None
    notes: tuple[str, ...] = ()

    def by_group(self, name: str) -> dict[Hashable, Any]:
        """One per-group figure (``selection_rate``, ``accuracy``, ...) keyed by group."""
        return {g.group: getattr(g, name) for g in self.groups}

    def to_dict(self) -> dict[str, Any]:
        return {
            "pos_label": self.pos_label,
            "sensitive": list(self.sensitive),
            "overall": self.overall.to_dict() if self.overall else None,
            "groups": [g.to_dict() for g in self.groups],
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "true_positive_rate_difference": self.true_positive_rate_difference,
            "false_positive_rate_difference": self.false_positive_rate_difference,
            "true_positive_rate_ratio": self.true_positive_rate_ratio,
            "false_positive_rate_ratio": self.false_positive_rate_ratio,
            "equalized_odds_difference": self.equalized_odds_difference,
            "equalized_odds_ratio": self.equalized_odds_ratio,
            "notes": list(self.notes),
        }


def _pos_label(classes: list[Any], pos_label: Any) -> Any:
    if len(classes) > 2:
        raise InvalidRequest(
            f"fairness figures need binary labels; there are {len(classes)}: {classes}",
            hint="map the labels to the favourable outcome and the rest",
        )
    if pos_label is None:
        if set(classes) <= {0, 1} or set(classes) <= {-1, 1}:
            return True if any(isinstance(c, bool) for c in classes) else 1
        raise InvalidRequest(f"pos_label is required for the labels {classes}", hint="pass pos_label=...")
    if len(classes) < 2 and not any(pos_label == c for c in classes):
        return pos_label  # a window may hold no positive at all
    return check_label(pos_label, classes)


def _figures(group: Hashable, truth: Array, predicted: Array) -> GroupFigures:
    """One group's figures; ``truth``/``predicted`` are booleans (is the positive label)."""
    n = len(truth)
    positives = int(truth.sum())
    negatives = n - positives
    tp = int((truth & predicted).sum())
    fp = int((~truth & predicted).sum())
    return GroupFigures(
        group=group,
        count=n,
        positives=positives,
        negatives=negatives,
        selection_rate=float(predicted.mean()),
        accuracy=float((truth == predicted).mean()),
        true_positive_rate=tp / positives if positives else 0.0,
        false_positive_rate=fp / negatives if negatives else 0.0,
    )


def _spread(values: list[float]) -> tuple[float | None, float | None]:
    """(max - min, min / max) over groups; the ratio is None when max is 0 (0/0)."""
    if not values:
        return None, None
    hi, lo = max(values), min(values)
    return hi - lo, (lo / hi if hi != 0 else None)


def _group_sort_key(key: Hashable) -> tuple[Any, ...]:
    parts = key if isinstance(key, tuple) else (key,)
    return tuple((0, float(p)) if isinstance(p, int | float) else (1, str(p)) for p in parts)


def _sensitive_names(sensitive: Any) -> tuple[str, ...]:
    if hasattr(sensitive, "columns"):
        return tuple(str(c) for c in sensitive.columns)
    if isinstance(sensitive, dict):
        return tuple(str(c) for c in sensitive)
    name = getattr(sensitive, "name", None)
    return (str(name),) if name is not None else ("sensitive",)


def fairness_report(
    y_true: Any,
    y_pred: Any,
    sensitive: Any,
    *,
    pos_label: Any = None,
    undefined_rates: str = "zero",
) -> FairnessReport:
    """Per-group and across-group fairness figures of binary predictions.

    ``sensitive``: one value per row (a list, array or Series), or a frame/mapping of several
    attributes. ``pos_label``: the favourable label, default 1 for 0/1 or -1/1 labels.
    """
    if undefined_rates not in UNDEFINED_RATES:
        raise InvalidRequest(f"undefined_rates must be one of {', '.join(UNDEFINED_RATES)}, not {undefined_rates!r}")
    t = no_missing(vector(y_true, "y_true"), "y_true")
    p = no_missing(vector(y_pred, "y_pred"), "y_pred")
    n = same_length(y_true=t, y_pred=p)
    names = _sensitive_names(sensitive)
    rows = group_rows(sensitive, n, "sensitive")
    classes = classes_of(t, p)
    if n == 0:
        empty = (None,) * 8
        return FairnessReport(pos_label, names, None, (), *empty, notes=("no rows",))
    pos = _pos_label(classes, pos_label)
    truth = np.asarray([plain(v) == pos for v in t.tolist()], dtype=bool)
    predicted = np.asarray([plain(v) == pos for v in p.tolist()], dtype=bool)
    groups = sorted(
        ((key, _figures(key, truth[idx], predicted[idx])) for key, idx in rows), key=lambda kv: _group_sort_key(kv[0])
    )
    figures = tuple(g for _, g in groups)
    notes: list[str] = []
    tprs, fprs = [], []
    for g in figures:
        if g.positives == 0:
            notes.append(
                f"group {g.group!r} has no positives: its TPR is undefined"
                + (" and left out" if undefined_rates == "skip" else ", counted as 0 (Fairlearn's convention)")
            )
        if g.negatives == 0:
            notes.append(
                f"group {g.group!r} has no negatives: its FPR is undefined"
                + (" and left out" if undefined_rates == "skip" else ", counted as 0 (Fairlearn's convention)")
            )
        if g.positives or undefined_rates == "zero":
            tprs.append(g.true_positive_rate)
        if g.negatives or undefined_rates == "zero":
            fprs.append(g.false_positive_rate)
    dp_diff, dp_ratio = _spread([g.selection_rate for g in figures])
    tpr_diff, tpr_ratio = _spread(tprs)
    fpr_diff, fpr_ratio = _spread(fprs)
    diffs = [d for d in (tpr_diff, fpr_diff) if d is not None]
    eo_diff = max(diffs) if diffs else None
    # Fairlearn takes Python's min() of [TPR ratio, FPR ratio]: an undefined TPR ratio makes
    # the result undefined, an undefined FPR ratio is passed over.
    eo_ratio = None if tpr_ratio is None else tpr_ratio if fpr_ratio is None else min(tpr_ratio, fpr_ratio)
    if len(figures) < 2:
        notes.append("only one group: the across-group figures compare it with itself")
    return FairnessReport(
        pos_label=pos,
        sensitive=names,
        overall=_figures("overall", truth, predicted),
        groups=figures,
        demographic_parity_difference=dp_diff,
        demographic_parity_ratio=dp_ratio,
        true_positive_rate_difference=tpr_diff,
        false_positive_rate_difference=fpr_diff,
        true_positive_rate_ratio=tpr_ratio,
        false_positive_rate_ratio=fpr_ratio,
        equalized_odds_difference=eo_diff,
        equalized_odds_ratio=eo_ratio,
        notes=tuple(notes),
    )
