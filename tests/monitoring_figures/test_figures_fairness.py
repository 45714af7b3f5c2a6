"""Fairness figures: equal to Fairlearn's on the same data, and every bad input refused."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidRequest
from shipyard.monitoring import FairnessReport, fairness_report

fm = pytest.importorskip("fairlearn.metrics", reason="fairlearn (the dev extra) is not installed")
skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-12


def _same(ours: float | None, theirs: Any) -> bool:
    theirs = float(theirs)
    if math.isnan(theirs):
        return ours is None
    return ours is not None and abs(ours - theirs) <= TOL


def _assert_parity(y_true: Any, y_pred: Any, sensitive: Any, pos_label: Any = 1) -> FairnessReport:
    report = fairness_report(y_true, y_pred, sensitive, pos_label=pos_label)
    frame = fm.MetricFrame(
        metrics={
            "selection_rate": functools.partial(fm.selection_rate, pos_label=pos_label),
            "accuracy": skm.accuracy_score,
            "true_positive_rate": functools.partial(fm.true_positive_rate, pos_label=pos_label),
            "false_positive_rate": functools.partial(fm.false_positive_rate, pos_label=pos_label),
            "count": fm.count,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=sensitive,
    )
    by_group = frame.by_group.dropna(how="all")  # Fairlearn lists empty combinations as NaN rows
    assert len(by_group) == len(report.groups)
    for group in report.groups:
        row = by_group.loc[group.group]
        assert group.count == int(row["count"])
        for name in ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate"):
            assert _same(getattr(group, name), row[name]), (group.group, name)
    for name in ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate"):
        assert _same(getattr(report.overall, name), frame.overall[name]), name
    if pos_label == 1:
        kw = {"sensitive_features": sensitive}
        assert _same(report.demographic_parity_difference, fm.demographic_parity_difference(y_true, y_pred, **kw))
        assert _same(report.demographic_parity_ratio, fm.demographic_parity_ratio(y_true, y_pred, **kw))
        assert _same(report.equalized_odds_difference, fm.equalized_odds_difference(y_true, y_pred, **kw))
        assert _same(report.equalized_odds_ratio, fm.equalized_odds_ratio(y_true, y_pred, **kw))
    # The same across-group figures from the MetricFrame itself (any pos_label).
    assert _same(report.demographic_parity_difference, frame.difference()["selection_rate"])
    assert _same(report.demographic_parity_ratio, frame.ratio()["selection_rate"])
    assert _same(report.true_positive_rate_difference, frame.difference()["true_positive_rate"])
    assert _same(report.false_positive_rate_ratio, frame.ratio()["false_positive_rate"])
    return report


def _synthetic(seed: int, n: int = 3000, groups: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups with different base rates and a classifier that favours some of them."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, groups, n)
    base = np.linspace(0.2, 0.7, groups)[group]
    y = (rng.random(n) < base).astype(int)
    bias = np.linspace(-0.15, 0.15, groups)[group]
    score = 0.6 * y + 0.4 * rng.random(n) + bias
    return y, (score > 0.5).astype(int), np.array([f"g{g}" for g in group], dtype=object)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_parity_with_fairlearn_on_several_groups(seed: int) -> None:
    y, pred, groups = _synthetic(seed)
    report = _assert_parity(y, pred, groups)
    assert len(report.groups) == 5
    assert report.demographic_parity_difference is not None and report.demographic_parity_difference > 0.05
    assert report.notes == ()


def test_parity_with_a_group_that_has_no_positives() -> None:
    y, pred, groups = _synthetic(7, n=1200, groups=4)
    y[groups == "g0"] = 0  # g0: no positives, so its TPR is undefined (0 by Fairlearn's convention)
    report = _assert_parity(y, pred, groups)
    g0 = next(g for g in report.groups if g.group == "g0")
    assert g0.positives == 0 and g0.true_positive_rate == 0.0
    assert any("g0" in note and "no positives" in note for note in report.notes)
    assert report.true_positive_rate_ratio == 0.0
    skipped = fairness_report(y, pred, groups, undefined_rates="skip")
    assert skipped.true_positive_rate_ratio is not None and skipped.true_positive_rate_ratio > 0.0
    assert skipped.demographic_parity_difference == report.demographic_parity_difference


def test_parity_with_a_group_that_has_no_negatives_and_one_that_is_never_selected() -> None:
    y, pred, groups = _synthetic(11, n=1500, groups=3)
    y[groups == "g2"] = 1
    pred[groups == "g1"] = 0
    _assert_parity(y, pred, groups)


def test_parity_when_nothing_is_selected_ratio_is_undefined() -> None:
    y = np.array([0, 1, 0, 1, 1, 0])
    pred = np.zeros(6, dtype=int)
    groups = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    report = _assert_parity(y, pred, groups)
    assert report.demographic_parity_ratio is None  # 0 / 0
    assert report.demographic_parity_difference == 0.0
    assert report.equalized_odds_ratio is None


def test_parity_when_fpr_ratio_is_undefined_follows_fairlearn() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    pred = np.array([0, 1, 0, 0, 1, 0, 1, 1])  # no false positives anywhere: FPR ratio 0/0
    groups = np.array(["a", "a", "b", "b", "c", "c", "a", "b"], dtype=object)
    report = _assert_parity(y, pred, groups)
    assert report.false_positive_rate_ratio is None
    assert report.equalized_odds_ratio == report.true_positive_rate_ratio


def test_parity_with_string_labels_and_pandas_inputs() -> None:
    y, pred, groups = _synthetic(5, n=800, groups=3)
    labels = np.array(["deny", "approve"], dtype=object)
    y_s, pred_s = pd.Series(labels[y]), pd.Series(labels[pred])
    report = _assert_parity(y_s, pred_s, pd.Series(groups, name="region"), pos_label="approve")
    assert report.sensitive == ("region",)
    assert report.pos_label == "approve"


def test_parity_with_two_sensitive_attributes_intersectional() -> None:
    y, pred, groups = _synthetic(9, n=2000, groups=3)
    rng = np.random.default_rng(1009)
    frame = pd.DataFrame({"region": groups, "age": rng.choice(["young", "old"], len(y))})
    report = _assert_parity(y, pred, frame)
    assert len(report.groups) == 6
    assert all(isinstance(g.group, tuple) and len(g.group) == 2 for g in report.groups)
    assert report.to_dict()["groups"][0]["group"] in (["g0", "old"], ["g0", "young"])


def test_parity_when_a_combination_of_attributes_never_occurs() -> None:
    y, pred, groups = _synthetic(13, n=1200, groups=3)
    age = np.where(np.arange(len(y)) % 2 == 0, "young", "old").astype(object)
    age[groups == "g2"] = "old"  # (g2, young) has no rows: Fairlearn lists it with NaN figures
    report = _assert_parity(y, pred, {"region": groups, "age": age})
    assert len(report.groups) == 5 and ("g2", "young") not in report.by_group("count")


def test_numeric_sensitive_groups_and_boolean_labels() -> None:
    y, pred, _ = _synthetic(3, n=900, groups=3)
    ages = np.random.default_rng(3).integers(1, 4, len(y))
    _assert_parity(y.astype(bool), pred.astype(bool), ages, pos_label=True)
    assert fairness_report(y.astype(bool), pred.astype(bool), ages).pos_label is True


def test_to_dict_is_json_and_names_the_figures() -> None:
    import json

    y, pred, groups = _synthetic(1, n=300, groups=2)
    body = json.loads(json.dumps(fairness_report(y, pred, groups).to_dict()))
    assert {"demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"} <= set(body)
    assert {g["group"] for g in body["groups"]} == {"g0", "g1"}
    assert body["overall"]["count"] == 300


def test_empty_window_gives_an_empty_report() -> None:
    report = fairness_report([], [], [])
    assert report.groups == () and report.demographic_parity_difference is None
    assert report.notes == ("no rows",)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0, 1, 1], [0, 1], ["a", "b", "a"]), {}, "differ in length"),
        (([0, 1, 1], [0, 1, 0], ["a", "b"]), {}, "differ in length"),
        (([0, 1, 1], [0, 1, 0], ["a", "b", "a"]), {"pos_label": 2}, "not one of the labels"),
        ((["x", "y", "x"], ["x", "y", "y"], ["a", "b", "a"]), {}, "pos_label is required"),
        (([0, 1, 2], [0, 1, 0], ["a", "b", "a"]), {}, "binary labels"),
        (([0, np.nan, 1], [0, 1, 0], ["a", "b", "a"]), {}, "missing"),
        (([0, 1, 1], [0, None, 0], ["a", "b", "a"]), {}, "missing"),
        (([0, 1, 1], [0, 1, 0], ["a", None, "a"]), {}, "sensitive has 1 missing"),
        (([0, 1, 1], [0, 1, 0], ["a", "b", "a"]), {"undefined_rates": "nan"}, "undefined_rates"),
        (([[0, 1], [1, 0]], [0, 1], ["a", "b"]), {}, "1-D"),
    ],
)
def test_bad_input_is_refused(args: tuple[Any, ...], kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        fairness_report(*args, **kwargs)


def test_importing_shipyard_monitoring_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, shipyard.monitoring as m; "
        "assert 'sklearn' not in sys.modules and 'pandas' not in sys.modules, 'heavy import'; "
        "assert callable(m.fairness_report)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
