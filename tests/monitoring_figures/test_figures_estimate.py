"""Estimated performance without labels: close to the realized figures on calibrated data,
following them under covariate shift, with a band that holds the realized value and
warnings when the window's scores leave the reference's."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from shipyard.errors import InvalidRequest
from shipyard.monitoring.estimate import PerformanceEstimator
from shipyard.monitoring.performance import classification_performance

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _binary(rng: np.random.Generator, n: int, mean: float = 0.0, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """True probability sigmoid(2x); the model's score is p**2 (right order, not calibrated)."""
    x = rng.normal(mean, spread, n)
    p = 1.0 / (1.0 + np.exp(-2.0 * x))
    y = (rng.random(n) < p).astype(int)
    return y, p**2


def _realized(y: np.ndarray, pred: np.ndarray, score: Any) -> dict[str, float | None]:
    perf = classification_performance(y, pred, score)
    return {m: perf.value(m) for m in METRICS}


@pytest.fixture(scope="module")
def estimator() -> PerformanceEstimator:
    y, score = _binary(np.random.default_rng(0), 6000)
    return PerformanceEstimator.fit(y, score, (score >= 0.25).astype(int))


def test_the_reference_check_and_calibration_error(estimator: PerformanceEstimator) -> None:
    assert estimator.calibration_error < 0.03
    for name in METRICS:
        check = estimator.reference[name]
        assert check["estimated"] == pytest.approx(check["realized"], abs=0.02), name


def test_estimate_is_close_to_the_realized_figures_on_the_same_distribution(estimator: PerformanceEstimator) -> None:
    y, score = _binary(np.random.default_rng(1), 4000)
    pred = (score >= 0.25).astype(int)
    estimate = estimator.estimate(score, pred)
    realized = _realized(y, pred, score)
    for name in METRICS:
        e = estimate.metrics[name]
        assert e.value is not None and e.lower is not None and e.upper is not None
        assert e.value == pytest.approx(realized[name], abs=0.025), name
        assert e.lower - 0.01 <= realized[name] <= e.upper + 0.01, name  # type: ignore[operator]
    assert estimate.warnings == ()
    assert estimate.outside_range_share is not None and estimate.outside_range_share < 0.005
    assert estimate.psi is not None and estimate.psi < 0.05
    json.dumps(estimate.to_dict())


def test_the_band_holds_the_realized_accuracy_about_as_often_as_it_says(estimator: PerformanceEstimator) -> None:
    rng = np.random.default_rng(2)
    inside = {"accuracy": 0, "f1": 0}
    windows = 60
    for _ in range(windows):
        y, score = _binary(rng, 400)
        pred = (score >= 0.25).astype(int)
        estimate = estimator.estimate(score, pred)
        realized = _realized(y, pred, score)
        for name in inside:
            e = estimate.metrics[name]
            inside[name] += e.lower <= realized[name] <= e.upper  # type: ignore[operator]
    for name, hits in inside.items():
        assert 0.85 <= hits / windows <= 1.0, (name, hits)


@pytest.mark.parametrize(("mean", "spread"), [(1.2, 1.0), (-0.8, 0.8), (0.0, 0.5)])
def test_estimate_follows_the_realized_figures_under_covariate_shift(
    estimator: PerformanceEstimator, mean: float, spread: float
) -> None:
    rng = np.random.default_rng(3)
    y_ref, s_ref = _binary(rng, 4000)
    before = _realized(y_ref, (s_ref >= 0.25).astype(int), s_ref)
    y, score = _binary(rng, 4000, mean, spread)
    pred = (score >= 0.25).astype(int)
    realized = _realized(y, pred, score)
    estimate = estimator.estimate(score, pred)
    moved = max(abs(realized[m] - before[m]) for m in ("accuracy", "f1"))  # type: ignore[operator]
    assert moved > 0.05  # the shift really changes performance
    for name in ("accuracy", "f1"):
        assert estimate.value(name) == pytest.approx(realized[name], abs=0.03), name
    assert estimate.value("roc_auc") == pytest.approx(realized["roc_auc"], abs=0.05)
    assert any("confidence distribution" in w for w in estimate.warnings)


def test_scores_outside_the_reference_range_are_warned_about() -> None:
    rng = np.random.default_rng(4)
    y, score = _binary(rng, 3000)
    narrow = 0.1 + 0.8 * score  # the reference never saw scores below 0.1 or above 0.9
    estimator = PerformanceEstimator.fit(y, narrow)
    _, window = _binary(rng, 1000)
    estimate = estimator.estimate(window)
    assert estimate.outside_range_share is not None and estimate.outside_range_share > 0.2
    assert any("outside the reference's range" in w for w in estimate.warnings)


def test_multiclass_estimate_with_predict_proba_and_string_labels() -> None:
    rng = np.random.default_rng(5)
    names = np.array(["cat", "dog", "eel"], dtype=object)

    def sample(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        logits = rng.normal(0, 1.2, (n, 3)) + np.array([shift, 0.0, -shift])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(3, p=row) for row in p])
        sharp = p**3 / (p**3).sum(axis=1, keepdims=True)  # over-confident scores
        return names[y], sharp

    y_ref, s_ref = sample(5000, 0.0)
    estimator = PerformanceEstimator.fit(y_ref, s_ref, classes=list(names))
    assert estimator.pos_label is None and estimator.calibration_error < 0.05
    for shift in (0.0, 1.0):
        y, score = sample(3000, shift)
        pred = names[score.argmax(axis=1)]
        estimate = estimator.estimate(score, pred)
        assert estimate.average == "macro"
        assert estimate.value("accuracy") == pytest.approx(skm.accuracy_score(y, pred), abs=0.03)
        assert estimate.value("f1") == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=0.04)
        auc = skm.roc_auc_score(y, score, multi_class="ovr", labels=list(names))
        assert estimate.value("roc_auc") == pytest.approx(auc, abs=0.04)


def test_binary_predict_proba_with_a_named_positive_class() -> None:
    rng = np.random.default_rng(6)
    y, score = _binary(rng, 3000)
    names = np.array(["keep", "churn"], dtype=object)
    proba = np.column_stack([1 - score, score])
    estimator = PerformanceEstimator.fit(names[y], proba, pos_label="churn")
    yw, sw = _binary(rng, 2000)
    window = np.column_stack([1 - sw, sw])
    estimate = estimator.estimate(window)  # predictions: the class with the higher score
    pred = names[window.argmax(axis=1)]
    assert estimate.pos_label == "churn"
    assert estimate.value("recall") == pytest.approx(skm.recall_score(names[yw], pred, pos_label="churn"), abs=0.03)


def test_an_empty_window_estimates_nothing(estimator: PerformanceEstimator) -> None:
    estimate = estimator.estimate(np.array([]))
    assert estimate.rows == 0
    assert all(e.value is None for e in estimate.metrics.values())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: PerformanceEstimator.fit([1] * 50, np.linspace(0, 1, 50)), "one class"),
        (lambda: PerformanceEstimator.fit([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]), "at least 5"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5] * 39), "differ in length"),
        (lambda: PerformanceEstimator.fit([0, None] * 20, [0.5] * 40), "missing"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5, np.nan] * 20), "NaN"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5] * 40, pos_label=3), "not one of the labels"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5] * 40, level=1.5), "level"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5] * 40, folds=1), "folds"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5] * 40, draws=5), "draws"),
        (lambda: PerformanceEstimator.fit([0, 1] * 20, [0.5] * 40, average="samples"), "average"),
        (lambda: PerformanceEstimator.fit([0, 1, 2] * 20, [0.5] * 60), "rows x 3"),
    ],
)
def test_bad_reference_is_refused(call: Any, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        call()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.2, 0.7], [0, 1, 1]), "differ in length"),
        (([0.2, 0.7], [0, 5]), "not one of the classes"),
        (([[0.2, 0.3, 0.5]], None), "rows x 2"),
        (([0.2, np.inf], None), "NaN or infinite"),
    ],
)
def test_bad_window_is_refused(estimator: PerformanceEstimator, args: tuple[Any, Any], match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        estimator.estimate(*args)


def test_estimated_auc_is_the_mean_auc_over_label_draws() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1.5, 8000)
    p = 1.0 / (1.0 + np.exp(-2.0 * x))
    estimator = PerformanceEstimator.fit((rng.random(8000) < p).astype(int), p)
    xw = rng.normal(-0.5, 1.0, 2000)
    pw = 1.0 / (1.0 + np.exp(-2.0 * xw))
    draws = [skm.roc_auc_score(rng.random(2000) < pw, pw) for _ in range(300)]
    estimate = estimator.estimate(pw)
    assert estimate.value("roc_auc") == pytest.approx(float(np.mean(draws)), abs=0.01)
    assert estimate.metrics["roc_auc"].std_error == pytest.approx(float(np.std(draws)), rel=0.25)


def test_a_fitted_estimator_round_trips_through_json(estimator: PerformanceEstimator) -> None:
    stored = json.loads(json.dumps(estimator.to_dict()))
    again = PerformanceEstimator.from_dict(stored)
    _, score = _binary(np.random.default_rng(8), 500)
    assert again.estimate(score).to_dict() == estimator.estimate(score).to_dict()
    with pytest.raises(InvalidRequest, match="not a stored performance estimator"):
        PerformanceEstimator.from_dict({**stored, "curves": []})
    with pytest.raises(InvalidRequest, match="not a stored performance estimator"):
        PerformanceEstimator.from_dict({"version": 1})
    with pytest.raises(InvalidRequest, match="unknown estimator version"):
        PerformanceEstimator.from_dict({**stored, "version": 2})
