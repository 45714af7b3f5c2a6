"""Concept drift: a labelled window against the version's registered evaluation metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.errors import InvalidRequest
from shipyard.monitoring.concept import concept_drift, metric_key
from shipyard.monitoring.performance import classification_performance, regression_performance
from shipyard.registry.types import Lineage


def _window(seed: int, n: int, flip: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A classifier right 90% of the time, then ``flip`` of the labels change meaning."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.9, y, 1 - y)
    changed = rng.random(n) < flip
    y = np.where(changed, 1 - y, y)
    score = np.clip(np.where(pred == 1, 0.8, 0.2) + rng.normal(0, 0.1, n), 0, 1)
    return y, pred, score


def test_a_window_as_good_as_registered_is_not_flagged() -> None:
    y, pred, score = _window(0, 5000, 0.0)
    lineage = Lineage.from_dict({"metrics": {"accuracy": 0.9, "f1": 0.9, "roc_auc": 0.9}})
    report = concept_drift(classification_performance(y, pred, score), lineage.metrics)
    assert not report.drift_detected
    accuracy = next(c for c in report.checks if c.metric == "accuracy")
    assert accuracy.std_error is not None and accuracy.interval is not None
    assert accuracy.interval[0] < 0.9 < accuracy.interval[1] + 0.01
    json.dumps(report.to_dict())


def test_changed_concept_is_flagged_and_significant() -> None:
    y, pred, score = _window(1, 5000, 0.2)
    report = concept_drift(classification_performance(y, pred, score), {"test_accuracy": 0.9, "log_loss": 0.3})
    assert report.drift_detected
    accuracy = next(c for c in report.checks if c.metric == "accuracy")
    assert accuracy.registered_name == "test_accuracy"
    assert accuracy.below and accuracy.significant
    assert accuracy.shortfall == pytest.approx(0.9 - accuracy.current)  # type: ignore[operator]
    log_loss = next(c for c in report.checks if c.metric == "log_loss")
    assert not log_loss.higher_is_better
    assert log_loss.below and log_loss.shortfall == pytest.approx(log_loss.current - 0.3)  # type: ignore[operator]


def test_a_small_window_flags_but_says_chance_could_explain_it() -> None:
    y, pred, score = _window(2, 60, 0.05)
    perf = classification_performance(y, pred, score)
    registered = perf.value("accuracy") + 0.05  # type: ignore[operator]
    check = concept_drift(perf, {"accuracy": registered}).checks[0]
    assert check.below and check.significant is False


def test_tolerance_per_metric_and_regression_directions() -> None:
    perf = regression_performance([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5])
    report = concept_drift(perf, {"mae": 0.3, "rmse": 0.45, "r2_score": 0.9}, tolerance={"mae": 0.25, "rmse": 0.01})
    by = {c.metric: c for c in report.checks}
    assert not by["mae"].below  # 0.5 is 0.2 worse than 0.3, within 0.25
    assert by["rmse"].below  # 0.5 vs 0.45, beyond 0.01
    assert by["r2"].higher_is_better and by["r2"].tolerance == 0.02


def test_unknown_undefined_and_non_numeric_metrics_are_skipped_or_explained() -> None:
    perf = classification_performance([1, 1, 1, 1], [1, 1, 0, 1], [0.9, 0.8, 0.4, 0.7])
    report = concept_drift(perf, {"accuracy": 0.5, "roc_auc": 0.8, "training_time": 12.0, "mae": 0.1, "f1": "high"})
    assert report.skipped["training_time"] == "not a monitored figure"
    assert "not computed" in report.skipped["mae"]
    assert "not a number" in report.skipped["f1"]
    auc = next(c for c in report.checks if c.metric == "roc_auc")
    assert auc.current is None and not auc.below and "one class" in (auc.reason or "")
    assert not report.drift_detected


def test_metric_names() -> None:
    assert metric_key("Accuracy") == "accuracy"
    assert metric_key("val_f1_score") == "f1"
    assert metric_key("AUC") == "roc_auc"
    assert metric_key("root_mean_squared_error") == "rmse"
    assert metric_key("loss") is None


@pytest.mark.parametrize(("kwargs", "match"), [({"tolerance": -0.1}, "tolerance"), ({"z": 0}, "z must")])
def test_bad_settings_are_refused(kwargs: dict[str, float], match: str) -> None:
    perf = classification_performance([0, 1], [0, 1])
    with pytest.raises(InvalidRequest, match=match):
        concept_drift(perf, {"accuracy": 0.9}, **kwargs)  # type: ignore[arg-type]
