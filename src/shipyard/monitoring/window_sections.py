"""The sections of a window's figures, each computed by the module that owns it: drift
(``monitoring.drift``), data quality, performance, its estimate, outcomes, cost and fairness
(``monitoring.quality`` ...). Each returns a JSON-able dict, or None with a note saying why
(no labels yet, too few rows, the module not available)."""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from shipyard.monitoring.window import Reference

logger = logging.getLogger(__name__)

# How the feedback joined to the log is named (``predlog.query.join_feedback``).
LABEL_COLUMNS = ("label", "feedback.label")
VALUE_COLUMNS = ("value", "feedback.value")
OUTCOME_PREFIXES = ("outcome.", "feedback.outcome.")
ATTRIBUTE_PREFIXES = ("attribute.", "feedback.attribute.")
PREDICTION_COLUMNS = ("out.predict", "out.prediction", "out.output-0", "out.output_0")
PROBA_COLUMNS = ("out.predict_proba", "out.probabilities")


def _function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(f"shipyard.monitoring.{module}"), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


def _plain(value: Any) -> Any:
    """JSON-able: objects with ``to_dict`` turned into dicts, numpy scalars into Python."""
    if hasattr(value, "to_dict") and not isinstance(value, pd.DataFrame | pd.Series):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def flat_numbers(prefix: str, section: Mapping[str, Any] | None) -> dict[str, float]:
    """The top-level numbers of ``section``, and those one level down, as ``prefix.a.b``."""
    flat: dict[str, float] = {}
    for key, value in (section or {}).items():
        number = _number(value)
        if number is not None:
            flat[f"{prefix}.{key}"] = number
        elif isinstance(value, Mapping):
            for sub, inner in value.items():
                number = _number(inner)
                if number is not None:
                    flat[f"{prefix}.{key}.{sub}"] = number
    return flat


def flat_drift(report: Mapping[str, Any] | None) -> dict[str, float]:
    """``drift.share``, ``drift.detected`` (0/1), and per column ``drift.<column>.score`` (the
    test's drift score) and ``drift.<column>.detected`` (0/1)."""
    if not report:
        return {}
    flat: dict[str, float] = {}
    share = _number(report.get("share_of_drifted_columns", report.get("share")))
    if share is not None:
        flat["drift.share"] = share
    detected = report.get("dataset_drift", report.get("drift_detected"))
    if isinstance(detected, bool):
        flat["drift.detected"] = float(detected)
    columns = report.get("columns", {})
    items = columns.items() if isinstance(columns, Mapping) else ((c.get("column"), c) for c in columns)
    for name, column in items:
        if isinstance(column, Mapping):
            score = _number(column.get("score", column.get("statistic", column.get("drift_score"))))
            if score is not None and name is not None:
                flat[f"drift.{name}.score"] = score
            if isinstance(column.get("drift_detected"), bool) and name is not None:
                flat[f"drift.{name}.detected"] = float(column["drift_detected"])
    return flat


def flat_outcomes(outcomes: Mapping[str, Any] | None) -> dict[str, float]:
    flat: dict[str, float] = {}
    for name, stats in (outcomes or {}).items():
        if isinstance(stats, Mapping):
            for stat, value in stats.items():
                number = _number(value)
                if number is not None:
                    flat[f"outcome.{name}.{stat}"] = number
    return flat


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _given(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that has a value in some row (feedback columns are all
    present, null where nothing was given)."""
    return next((n for n in names if n in frame.columns and frame[n].notna().any()), None)


def _prefixed(frame: pd.DataFrame, prefixes: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for column in frame.columns:
        for prefix in prefixes:
            if isinstance(column, str) and column.startswith(prefix):
                found.setdefault(column[len(prefix) :], column)
    return found


def labelled_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that have a label (or a value, for regression) from feedback."""
    label = _given(rows, LABEL_COLUMNS) or _given(rows, VALUE_COLUMNS)
    if label is None or rows.empty:
        return rows.iloc[0:0]
    return rows[rows[label].notna().to_numpy()]


def registered_summary(registry: Any, version: Any) -> Any:
    """The drift reference summary registered with a version (``monitoring.reference``), or
    None when it has none (registered without training data, or before summaries existed)."""
    if getattr(version.lineage, "drift_reference", None) is None:
        return None
    load = _function("reference", "drift_reference_of")
    if load is None:
        return None
    try:
        return load(registry, version)
    except Exception as exc:  # a missing or changed blob: no drift figures, and the log says why
        logger.warning("the drift reference of %s v%s cannot be read: %s", version.model, version.version, exc)
        return None


def drift(reference: Reference, inputs: pd.DataFrame, notes: list[str]) -> dict[str, Any] | None:
    """Drift of ``inputs`` against the version's registered reference summary
    (``monitoring.drift.drift_report``, Evidently's defaults)."""
    compute = _function("drift", "drift_report")
    if compute is None:
        notes.append("drift: the drift module is not available in this build")
        return None
    if reference.summary is None:
        notes.append(f"{reference.model} v{reference.version}: no drift reference registered; no drift figures")
        return None
    if inputs.empty:
        return None
    known = set(getattr(reference.summary, "columns", {}) or {})
    columns = [c for c in inputs.columns if c in known]
    if not columns:
        notes.append(f"drift of {reference.model} v{reference.version}: no logged input is in the reference")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # chi-square on empty bins, as Evidently
            return dict(_plain(compute(reference.summary, inputs[columns])))
    except Exception as exc:
        notes.append(f"drift of {reference.model} v{reference.version}: {exc}")
        return None


def quality(reference: Reference, inputs: pd.DataFrame, notes: list[str]) -> dict[str, Any] | None:
    """Missing rate, out-of-range values, unseen categories, type and schema violations
    against the version's profile and signature (``monitoring.quality``)."""
    compute = _function("quality", "quality_report")
    if compute is None:
        notes.append("data quality: the quality module is not available in this build")
        return None
    if inputs.empty:
        return None
    signature = reference.signature if getattr(reference.signature, "kind", None) == "columns" else None
    try:
        return dict(_plain(compute(inputs, reference.profile, signature)))
    except Exception as exc:
        notes.append(f"data quality of {reference.model} v{reference.version}: {exc}")
        return None


QUALITY_FIGURES = ("missing_rate", "out_of_range_share", "unseen_share", "type_violations", "null_violations")


def flat_quality(section: Mapping[str, Any] | None) -> dict[str, float]:
    """``quality.<figure>`` (the window's worst column, totals) and ``quality.<column>.<figure>``."""
    flat: dict[str, float] = {}
    if not section:
        return flat
    for name, value in (section.get("summary") or {}).items():
        number = _number(value)
        if number is not None:
            flat[f"quality.{name}"] = number
    for column, figures in (section.get("columns") or {}).items():
        if isinstance(figures, Mapping):
            for name in QUALITY_FIGURES:
                number = _number(figures.get(name))
                if number is not None:
                    flat[f"quality.{column}.{name}"] = number
    return flat


def performance(labelled: pd.DataFrame, notes: list[str]) -> tuple[dict[str, Any] | None, Any]:
    """Metrics on the rows that have labels (``monitoring.performance``): classification
    when feedback gave labels, regression when it gave values. (JSON-able figures, the
    performance object for concept drift.)"""
    if labelled.empty:
        return None, None
    predicted = _column(labelled, PREDICTION_COLUMNS)
    if predicted is None:
        notes.append("performance: the log has no prediction column to compare the labels with")
        return None, None
    label = _given(labelled, LABEL_COLUMNS)
    try:
        if label is not None:
            compute = _function("performance", "classification_performance")
            proba = _column(labelled, PROBA_COLUMNS)
            score = np.asarray(labelled[proba].tolist(), dtype=np.float64) if proba else None
            found = compute(labelled[label].tolist(), labelled[predicted].tolist(), score) if compute else None
        else:
            value = _given(labelled, VALUE_COLUMNS)
            compute = _function("performance", "regression_performance")
            found = compute(labelled[value].tolist(), labelled[predicted].tolist()) if compute and value else None
    except Exception as exc:
        notes.append(f"performance: {exc}")
        return None, None
    if found is None:
        notes.append("performance: the performance module is not available in this build")
        return None, None
    return dict(_plain(found)), found


def flat_performance(prefix: str, section: Mapping[str, Any] | None) -> dict[str, float]:
    """``performance.<metric>`` (and ``.std_error``) from ``{"metrics": {name: {value, std_error}}}``."""
    flat: dict[str, float] = {}
    if not section:
        return flat
    rows = _number(section.get("rows"))
    if rows is not None:
        flat[f"{prefix}.rows"] = rows
    for name, figure in (section.get("metrics") or {}).items():
        if isinstance(figure, Mapping):
            value, error = _number(figure.get("value")), _number(figure.get("std_error"))
            if value is not None:
                flat[f"{prefix}.{name}"] = value
            if error is not None:
                flat[f"{prefix}.{name}.std_error"] = error
        elif _number(figure) is not None:
            flat[f"{prefix}.{name}"] = float(figure)
    return flat


def flat_concept(section: Mapping[str, Any] | None) -> dict[str, float]:
    """``concept.drift_detected`` (0/1) and ``concept.<metric>.shortfall``."""
    flat: dict[str, float] = {}
    if not section:
        return flat
    detected = section.get("drift_detected")
    if isinstance(detected, bool):
        flat["concept.drift_detected"] = float(detected)
    for check in section.get("checks") or ():
        if isinstance(check, Mapping):
            shortfall = _number(check.get("shortfall"))
            if shortfall is not None:
                flat[f"concept.{check.get('metric')}.shortfall"] = shortfall
    return flat


def estimate(rows: pd.DataFrame, notes: list[str]) -> dict[str, Any] | None:
    """Classification performance of the rows without labels, estimated from their scores
    (``monitoring.estimate``, CBPE-like): calibrated on the window's labelled rows."""
    proba, predicted = _column(rows, PROBA_COLUMNS), _column(rows, PREDICTION_COLUMNS)
    label = _given(rows, LABEL_COLUMNS)
    if proba is None or predicted is None or rows.empty:
        return None
    unlabelled = rows if label is None else rows[rows[label].isna().to_numpy()]
    labelled = rows.iloc[0:0] if label is None else rows[rows[label].notna().to_numpy()]
    if unlabelled.empty:
        return None
    if labelled.empty:
        notes.append("estimated performance: no labelled rows to calibrate the scores on yet")
        return None
    estimator = _function("estimate", "PerformanceEstimator")
    if estimator is None:
        notes.append("estimated performance: the estimate module is not available in this build")
        return None
    try:
        fitted = estimator.fit(  # type: ignore[attr-defined]
            labelled[label].tolist(),
            np.asarray(labelled[proba].tolist(), dtype=np.float64),
            labelled[predicted].tolist(),
        )
        found = fitted.estimate(
            np.asarray(unlabelled[proba].tolist(), dtype=np.float64), unlabelled[predicted].tolist()
        )
    except Exception as exc:
        notes.append(f"estimated performance: {exc}")
        return None
    return dict(_plain(found))


def outcomes(rows: pd.DataFrame, notes: list[str]) -> dict[str, Any] | None:
    """Per business outcome given with feedback: count, sum, mean (and its standard error),
    rate for 0/1 outcomes (``monitoring.cost.outcome_summary``)."""
    named = _prefixed(rows, OUTCOME_PREFIXES)
    named = {name: column for name, column in named.items() if rows[column].notna().any()}
    if not named or rows.empty:
        return None
    compute = _function("cost", "outcome_summary")
    if compute is None:
        notes.append("outcomes: the cost module is not available in this build")
        return None
    try:
        found = compute([None] * len(rows), {name: rows[column].tolist() for name, column in named.items()})
    except Exception as exc:
        notes.append(f"outcomes: {exc}")
        return None
    (figures,) = found.values()
    return {name: _plain(value) for name, value in figures.items()}


def cost(
    predictions: int, cpu_seconds: float | None, price: float, outcome: Mapping[str, Any] | None, notes: list[str]
) -> dict[str, Any] | None:
    """CPU seconds and price per 1,000 predictions, and each outcome per unit of cost
    (``monitoring.cost.cost_figures``); needs the CPU seconds the server metered."""
    if predictions == 0:
        return None
    if cpu_seconds is None:
        notes.append("cost: no CPU seconds were metered for this window (the log records latency, not CPU)")
        return None
    compute, figures_of = _function("cost", "cost_figures"), _function("cost", "OutcomeFigures")
    if compute is None or figures_of is None:
        notes.append("cost: the cost module is not available in this build")
        return None
    sums = {
        name: figures_of(name, 0, float(stats.get("sum") or 0.0), None, None, None)
        for name, stats in (outcome or {}).items()
    }
    try:
        return dict(_plain(compute(predictions, cpu_seconds, price, sums)))
    except Exception as exc:
        notes.append(f"cost: {exc}")
        return None


def fairness(rows: pd.DataFrame, sensitive: str | None, notes: list[str]) -> dict[str, Any] | None:
    """Per group of a sensitive attribute given with feedback (``monitoring.fairness``)."""
    attributes = {n: c for n, c in _prefixed(rows, ATTRIBUTE_PREFIXES).items() if rows[c].notna().any()}
    if not attributes:
        return None
    name = sensitive if sensitive in attributes else (None if sensitive else sorted(attributes)[0])
    if name is None:
        notes.append(f"fairness: no attribute {sensitive!r} was given with feedback")
        return None
    labelled = labelled_rows(rows)
    labelled = labelled[labelled[attributes[name]].notna().to_numpy()]
    label, predicted = _given(labelled, LABEL_COLUMNS), _column(labelled, PREDICTION_COLUMNS)
    if labelled.empty or label is None or predicted is None:
        if not labelled.empty:
            notes.append("fairness: needs class labels from feedback and the predicted class in the log")
        return None
    compute = _function("fairness", "fairness_report")
    if compute is None:
        notes.append("fairness: the fairness module is not available in this build")
        return None
    try:
        report = _plain(
            compute(labelled[label].tolist(), labelled[predicted].tolist(), labelled[attributes[name]].tolist())
        )
    except Exception as exc:
        notes.append(f"fairness: {exc}")
        return None
    return {"attribute": name, **dict(report)}


def concept(reference: Reference, measured: Any) -> dict[str, Any] | None:
    """Concept drift: the window's measured performance against the version's registered
    evaluation metrics (``monitoring.concept``)."""
    if measured is None or not reference.metrics:
        return None
    compare = _function("concept", "concept_drift")
    if compare is None:
        return None
    try:
        return dict(_plain(compare(measured, dict(reference.metrics))))
    except Exception as exc:
        logger.debug("concept drift: %s", exc)
        return None
