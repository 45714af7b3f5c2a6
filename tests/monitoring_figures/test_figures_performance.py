"""Live performance figures: scikit-learn's numbers, None with a reason where undefined,
standard errors that match the spread of resampled windows, and bad input refused."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from shipyard.errors import InvalidRequest
from shipyard.monitoring.performance import (
    ClassificationPerformance,
    classification_performance,
    performance_by,
    regression_performance,
)


def _binary(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, (score >= 0.5).astype(int), score


def _multiclass(seed: int, n: int = 1500, k: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba.argmax(axis=1), proba


def test_binary_figures_equal_scikit_learn() -> None:
    y, pred, score = _binary(0)
    perf = classification_performance(y, pred, score)
    assert perf.average == "binary" and perf.pos_label == 1 and perf.rows == 2000
    assert perf.value("accuracy") == skm.accuracy_score(y, pred)
    assert perf.value("precision") == skm.precision_score(y, pred)
    assert perf.value("recall") == skm.recall_score(y, pred)
    assert perf.value("f1") == skm.f1_score(y, pred)
    assert perf.value("roc_auc") == skm.roc_auc_score(y, score)
    assert perf.value("log_loss") == pytest.approx(skm.log_loss(y, score), abs=1e-12)
    assert perf.confusion == tuple(map(tuple, skm.confusion_matrix(y, pred).tolist()))
    json.dumps(perf.to_dict())


def test_binary_with_predict_proba_and_string_labels() -> None:
    y, pred, score = _binary(1)
    names = np.array(["no", "yes"], dtype=object)
    proba = np.column_stack([1 - score, score])
    perf = classification_performance(pd.Series(names[y]), names[pred], proba, pos_label="yes")
    assert perf.classes == ("no", "yes") and perf.pos_label == "yes"
    assert perf.value("f1") == skm.f1_score(names[y], names[pred], pos_label="yes")
    assert perf.value("roc_auc") == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    # The default positive label for two string classes is the greater one (predict_proba[:, 1]).
    assert classification_performance(names[y], names[pred]).pos_label == "yes"
    flipped = classification_performance(names[y], names[pred], proba, pos_label="no")
    assert flipped.value("recall") == skm.recall_score(names[y], names[pred], pos_label="no")
    assert flipped.value("roc_auc") == pytest.approx(skm.roc_auc_score(1 - y, 1 - score), abs=1e-12)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
def test_multiclass_figures_equal_scikit_learn(average: str) -> None:
    y, pred, proba = _multiclass(2)
    perf = classification_performance(y, pred, proba, average=average)
    assert perf.average == average and perf.pos_label is None
    assert perf.value("precision") == skm.precision_score(y, pred, average=average)
    assert perf.value("recall") == skm.recall_score(y, pred, average=average)
    assert perf.value("f1") == skm.f1_score(y, pred, average=average)
    assert perf.value("roc_auc") == skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert perf.value("log_loss") == pytest.approx(skm.log_loss(y, proba), abs=1e-12)


def test_one_class_window_has_undefined_figures_with_reasons() -> None:
    perf = classification_performance([1, 1, 1], [1, 0, 1], [0.9, 0.4, 0.8])
    assert perf.value("accuracy") == pytest.approx(2 / 3)
    auc = perf.metrics["roc_auc"]
    assert auc.value is None and "one class" in (auc.reason or "")
    assert perf.value("log_loss") is not None  # defined with the class list
    none_predicted = classification_performance([0, 1, 0], [0, 0, 0])
    assert none_predicted.metrics["precision"].value is None
    assert "no predicted positives" in (none_predicted.metrics["precision"].reason or "")
    no_positives = classification_performance([0, 0], [0, 0], pos_label=1)
    assert no_positives.classes == (0, 1)
    assert no_positives.metrics["recall"].value is None and no_positives.metrics["f1"].value is None


def test_multiclass_window_missing_a_class() -> None:
    y, pred, proba = _multiclass(3, n=200, k=3)
    keep = y != 2
    perf = classification_performance(y[keep], pred[keep], proba[keep], classes=[0, 1, 2])
    assert perf.metrics["roc_auc"].value is None and "[2]" in (perf.metrics["roc_auc"].reason or "")
    assert perf.value("log_loss") == pytest.approx(skm.log_loss(y[keep], proba[keep], labels=[0, 1, 2]), abs=1e-12)


def test_scores_that_are_not_probabilities_give_auc_but_no_log_loss() -> None:
    y, pred, score = _binary(4, n=300)
    margin = 4 * score - 2
    perf = classification_performance(y, pred, margin)
    assert perf.value("roc_auc") == pytest.approx(skm.roc_auc_score(y, margin))
    assert perf.metrics["log_loss"].value is None and "[0, 1]" in (perf.metrics["log_loss"].reason or "")


def test_empty_window_gives_undefined_figures() -> None:
    perf = classification_performance([], [], [])
    assert perf.rows == 0
    assert all(f.value is None and f.reason == "no labelled rows in the window" for f in perf.metrics.values())
    assert regression_performance([], []).metrics["mae"].value is None


def test_regression_figures_equal_scikit_learn() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(10, 3, 800)
    pred = y + rng.normal(0, 1, 800)
    perf = regression_performance(y, pred)
    assert perf.value("mae") == skm.mean_absolute_error(y, pred)
    assert perf.value("rmse") == skm.root_mean_squared_error(y, pred)
    assert perf.value("r2") == skm.r2_score(y, pred)
    constant = regression_performance([3.0, 3.0, 3.0], [2.0, 3.0, 4.0])
    assert constant.metrics["r2"].value is None and "constant" in (constant.metrics["r2"].reason or "")
    single = regression_performance([3.0], [2.0])
    assert single.metrics["r2"].value is None and single.value("mae") == 1.0


def _resampled_spread(fn: Any, arrays: tuple[np.ndarray, ...], draws: int = 200) -> float:
    rng = np.random.default_rng(99)
    n = len(arrays[0])
    values = []
    for _ in range(draws):
        idx = rng.integers(0, n, n)
        values.append(fn(*(a[idx] for a in arrays)))
    return float(np.std(values, ddof=1))


def test_standard_errors_match_the_spread_of_resampled_windows() -> None:
    y, pred, score = _binary(6, n=1500)
    perf = classification_performance(y, pred, score)
    checks = {
        "accuracy": (skm.accuracy_score, (y, pred)),
        "precision": (skm.precision_score, (y, pred)),
        "recall": (skm.recall_score, (y, pred)),
        "f1": (skm.f1_score, (y, pred)),
        "roc_auc": (skm.roc_auc_score, (y, score)),
        "log_loss": (skm.log_loss, (y, score)),
    }
    for name, (fn, arrays) in checks.items():
        se = perf.metrics[name].std_error
        assert se is not None
        assert se == pytest.approx(_resampled_spread(fn, arrays), rel=0.2), name
    ym, pm, proba = _multiclass(7, n=1000)
    multi = classification_performance(ym, pm, proba)
    spread = _resampled_spread(lambda a, b: skm.f1_score(a, b, average="macro"), (ym, pm))
    assert multi.metrics["f1"].std_error == pytest.approx(spread, rel=0.2)
    assert multi.metrics["roc_auc"].std_error is None
    rng = np.random.default_rng(8)
    yr = rng.normal(0, 2, 1000)
    pr = yr + rng.standard_t(4, 1000)
    reg = regression_performance(yr, pr)
    for name, fn in (
        ("mae", skm.mean_absolute_error),
        ("rmse", skm.root_mean_squared_error),
        ("r2", skm.r2_score),
    ):
        assert reg.metrics[name].std_error == pytest.approx(_resampled_spread(fn, (yr, pr)), rel=0.25), name


def test_performance_by_window_and_variant_uses_the_classes_of_all_rows() -> None:
    y, pred, score = _binary(9, n=600)
    keys = pd.DataFrame({"window": ["w1"] * 300 + ["w2"] * 300, "variant": ["a", "b"] * 300})
    y[300:] = 0  # the second window has no positives
    result = performance_by(keys, y, pred, score)
    assert set(result) == {("w1", "a"), ("w1", "b"), ("w2", "a"), ("w2", "b")}
    first = result[("w1", "a")]
    assert isinstance(first, ClassificationPerformance)
    rows = np.arange(0, 300, 2)
    assert first.value("f1") == skm.f1_score(y[rows], pred[rows])
    second = result[("w2", "b")]
    assert isinstance(second, ClassificationPerformance)
    assert second.classes == (0, 1) and second.metrics["recall"].value is None
    by_version = performance_by([1, 1, 2, 2], [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 4.0], task="regression")
    assert by_version[1].value("mae") == 0.25 and by_version[2].value("mae") == 0.5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: classification_performance([0, 1, 1], [0, 1]), "differ in length"),
        (lambda: classification_performance([0, 1], [0, 1], [0.1, 0.2, 0.3]), "differ in length"),
        (lambda: classification_performance([0, 1], [0, 1], pos_label=2), "not one of the labels"),
        (lambda: classification_performance([0, 1, 2], [0, 1, 2], pos_label=1), "binary labels"),
        (lambda: classification_performance([0, np.nan], [0, 1]), "missing"),
        (lambda: classification_performance([0, None], [0, 1]), "missing"),
        (lambda: classification_performance([0, 1], [0, 1], [0.2, np.nan]), "NaN"),
        (lambda: classification_performance([0, 1], [0, 1], average="samples"), "average"),
        (lambda: classification_performance([0, 1, 2], [0, 1, 2], [[0.5, 0.5]] * 3), "3 classes"),
        (lambda: classification_performance([0, 1], [0, 1], classes=[0, 2]), "not among the classes"),
        (lambda: classification_performance([[0, 1], [1, 0]], [0, 1]), "1-D"),
        (lambda: classification_performance([0, 1], [0, 1], ["a", "b"]), "numbers"),
        (lambda: classification_performance(["a", "b"], [0, 1]), "cannot compare these labels"),
        (lambda: regression_performance([1.0, np.nan], [1.0, 2.0]), "missing"),
        (lambda: regression_performance([1.0, 2.0], ["a", "b"]), "numbers"),
        (lambda: regression_performance([1.0, 2.0], [1.0]), "differ in length"),
        (lambda: performance_by(["a"], [1, 0], [1, 0]), "expected 2"),
        (lambda: performance_by(["a", None], [1, 0], [1, 0]), "missing"),
        (lambda: performance_by(["a", "b"], [1, 0], [1, 0], task="ranking"), "task"),
    ],
)
def test_bad_input_is_refused(call: Any, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        call()
