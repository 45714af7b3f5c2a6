"""Concept drift: a labelled window performing worse than the version did when it was registered.

A version's lineage carries its evaluation metrics (``Lineage.metrics``, e.g.
``{"accuracy": 0.93}``). A window's live figures (``shipyard.monitoring.performance``) are
compared with them, metric by metric, with each metric's direction (accuracy: higher is
better; log loss, MAE, RMSE: lower is better):

    shortfall = registered - current      (higher is better)
    shortfall = current - registered      (lower is better)
    below     = shortfall > tolerance
    significant = shortfall - tolerance > z * SE(current)

``below`` is the flag; ``significant`` says whether the window's sampling error alone could
explain it (False: a window this small could show the shortfall by chance). The registered
figure is taken as exact: its own test-set sampling error is not known here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.monitoring.performance import HIGHER_IS_BETTER, LOWER_IS_BETTER, Performance

DEFAULT_TOLERANCE = 0.02
DEFAULT_Z = 1.96
ALIASES = {
    "acc": "accuracy",
    "f1_macro": "f1",
    "f1_weighted": "f1",
    "auc": "roc_auc",
    "roc_auc_ovr": "roc_auc",
    "logloss": "log_loss",
    "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse",
    "r2": "r2",
    "r_squared": "r2",
}
PREFIXES = ("test_", "eval_", "val_", "validation_")


def metric_key(name: str) -> str | None:
    """The live figure a registered metric name stands for (``test_accuracy`` -> ``accuracy``)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    for prefix in PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    key = key.removesuffix("_score")
    key = ALIASES.get(key, key)
    return key if key in HIGHER_IS_BETTER or key in LOWER_IS_BETTER else None


@dataclass(frozen=True)
class ConceptCheck:
    """One registered metric against the window's figure."""

    metric: str
    registered_name: str
    registered: float
    current: float | None
    std_error: float | None
    tolerance: float
    higher_is_better: bool
    shortfall: float | None
    below: bool
    significant: bool | None
    interval: tuple[float, float] | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "registered_name": self.registered_name,
            "registered": self.registered,
            "current": self.current,
            "std_error": self.std_error,
            "interval": list(self.interval) if self.interval else None,
            "tolerance": self.tolerance,
            "higher_is_better": self.higher_is_better,
            "shortfall": self.shortfall,
            "below": self.below,
            "significant": self.significant,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ConceptDriftReport:
    rows: int
    checks: tuple[ConceptCheck, ...]
    skipped: dict[str, str]
    """Registered metrics not compared, with why (not a live figure, or undefined here)."""

    @property
    def drift_detected(self) -> bool:
        return any(c.below for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "drift_detected": self.drift_detected,
            "checks": [c.to_dict() for c in self.checks],
            "skipped": dict(self.skipped),
        }


def _tolerance(tolerance: float | Mapping[str, float], metric: str, name: str) -> float:
    if isinstance(tolerance, Mapping):
        value = tolerance.get(name, tolerance.get(metric, DEFAULT_TOLERANCE))
    else:
        value = tolerance
    value = float(value)
    if not value >= 0:
        raise InvalidRequest(f"tolerance for {metric} must be a number >= 0, not {value!r}")
    return value


def concept_drift(
    performance: Performance,
    registered: Mapping[str, float],
    *,
    tolerance: float | Mapping[str, float] = DEFAULT_TOLERANCE,
    z: float = DEFAULT_Z,
) -> ConceptDriftReport:
    """Compare a window's figures with the version's registered metrics (``Lineage.metrics``).

    ``tolerance`` is absolute, in the metric's own units (one number, or per metric name);
    give MAE, RMSE and log loss their own.
    """
    if not z > 0:
        raise InvalidRequest(f"z must be positive, not {z!r}")
    checks: list[ConceptCheck] = []
    skipped: dict[str, str] = {}
    for name, raw in registered.items():
        metric = metric_key(name)
        if metric is None:
            skipped[name] = "not a monitored figure"
            continue
        try:
            reference = float(raw)
        except (TypeError, ValueError):
            skipped[name] = f"registered value {raw!r} is not a number"
            continue
        figure = performance.metrics.get(metric)
        if figure is None:
            skipped[name] = f"{metric} is not computed for this window ({performance.task})"
            continue
        tol = _tolerance(tolerance, metric, name)
        higher = metric in HIGHER_IS_BETTER
        if figure.value is None:
            checks.append(
                ConceptCheck(metric, name, reference, None, None, tol, higher, None, False, None, None, figure.reason)
            )
            continue
        shortfall = reference - figure.value if higher else figure.value - reference
        se = figure.std_error
        interval = (figure.value - z * se, figure.value + z * se) if se is not None else None
        significant = (shortfall - tol > z * se) if se is not None else None
        checks.append(
            ConceptCheck(
                metric,
                name,
                reference,
                figure.value,
                se,
                tol,
                higher,
                shortfall,
                shortfall > tol,
                significant,
                interval,
            )
        )
    return ConceptDriftReport(performance.rows, tuple(checks), skipped)
