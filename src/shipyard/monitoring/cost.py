"""Business outcomes per variant, and what the predictions cost in CPU.

**Outcomes** are named numbers sent with feedback (revenue, conversion, rating). Per variant
and outcome: ``count`` (rows that have the outcome), ``sum``, ``mean`` with its standard error
``s / sqrt(count)``, and, for an outcome whose values are all 0 or 1 (or booleans), the
``rate`` (the mean) with the binomial standard error ``sqrt(rate (1 - rate) / count)``.

**Cost** of ``predictions`` rows that took ``cpu_seconds`` of CPU, at ``price_per_core_hour``
(the setting of that name)::

    cpu_seconds_per_1000 = 1000 * cpu_seconds / predictions
    cost                 = cpu_seconds / 3600 * price_per_core_hour
    cost_per_1000        = cpu_seconds_per_1000 / 3600 * price_per_core_hour
    outcome_per_cost     = outcome sum / cost          (None when the cost is 0)

**CPU seconds** come from the prediction log: each worker's log writer charges the
process CPU time (``time.process_time``: all threads) spent since its previous commit to the
records of the current one, in proportion to their time in the data plane (``cpu_ms`` of a
record; ``PredictionLog._cpu_charges``). A window's CPU is the sum over its rows.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.monitoring.labels import group_rows, missing_mask, plain, vector

NO_VARIANT = "(none)"


@dataclass(frozen=True)
class OutcomeFigures:
    name: str
    count: int
    sum: float
    mean: float | None
    std_error: float | None
    rate: float | None
    """The mean when every value is 0 or 1 (a conversion), else None."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "count": self.count,
            "sum": self.sum,
            "mean": self.mean,
            "std_error": self.std_error,
            "rate": self.rate,
        }


def _outcome(name: str, values: np.ndarray[Any, Any]) -> OutcomeFigures:
    present = values[~missing_mask(values)]
    try:
        x = present.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"outcome {name!r} holds values that are not numbers: {exc}") from exc
    if not np.isfinite(x).all():
        raise InvalidRequest(f"outcome {name!r} holds infinite values")
    n = len(x)
    if n == 0:
        return OutcomeFigures(name, 0, 0.0, None, None, None)
    mean = float(x.mean())
    binary = bool(np.isin(x, (0.0, 1.0)).all())
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n >= 2 else None
    if binary:
        se = math.sqrt(mean * (1.0 - mean) / n)
    return OutcomeFigures(name, n, float(x.sum()), mean, se, mean if binary else None)


def outcome_summary(variants: Any, outcomes: Mapping[str, Any]) -> dict[Hashable, dict[str, OutcomeFigures]]:
    """Per variant (one value per row; None for traffic outside a deployment), per outcome
    (one value per row, None where a row has none): count, sum, mean, rate."""
    keys = vector(variants, "variants")
    n = len(keys)
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for name, values in outcomes.items():
        array = vector(values, f"outcome {name!r}")
        if len(array) != n:
            raise InvalidRequest(f"inputs differ in length: variants={n}, outcome {name!r}={len(array)}")
        columns[str(name)] = array
    labels = np.asarray([NO_VARIANT if v is None else plain(v) for v in keys.tolist()], dtype=object)
    result: dict[Hashable, dict[str, OutcomeFigures]] = {}
    for key, rows in group_rows(labels, n, "variants"):
        result[key] = {name: _outcome(name, values[rows]) for name, values in columns.items()}
    return result


@dataclass(frozen=True)
class CostFigures:
    predictions: int
    cpu_seconds: float
    price_per_core_hour: float
    cpu_seconds_per_1000: float | None
    cost: float
    cost_per_1000: float | None
    outcome_per_cost: dict[str, float | None] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": self.predictions,
            "cpu_seconds": self.cpu_seconds,
            "price_per_core_hour": self.price_per_core_hour,
            "cpu_seconds_per_1000": self.cpu_seconds_per_1000,
            "cost": self.cost,
            "cost_per_1000": self.cost_per_1000,
            "outcome_per_cost": dict(self.outcome_per_cost),
            "notes": list(self.notes),
        }


def cost_figures(
    predictions: int,
    cpu_seconds: float,
    price_per_core_hour: float,
    outcomes: Mapping[str, OutcomeFigures] | None = None,
) -> CostFigures:
    """The cost of ``predictions`` rows that used ``cpu_seconds``, and each outcome per unit of cost."""
    if isinstance(predictions, bool) or not isinstance(predictions, int) or predictions < 0:
        raise InvalidRequest(f"predictions must be a count >= 0, not {predictions!r}")
    for label, value in (("cpu_seconds", cpu_seconds), ("price_per_core_hour", price_per_core_hour)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise InvalidRequest(f"{label} must be a finite number >= 0, not {value!r}")
    notes: list[str] = []
    per_1000 = 1000.0 * cpu_seconds / predictions if predictions else None
    cost = cpu_seconds / 3600.0 * price_per_core_hour
    cost_per_1000 = per_1000 / 3600.0 * price_per_core_hour if per_1000 is not None else None
    if predictions == 0:
        notes.append("no predictions: nothing to divide the CPU by")
    if price_per_core_hour == 0:
        notes.append("price_per_core_hour is 0 (not set): costs are 0 and outcomes per cost undefined")
    per_cost = {name: (o.sum / cost if cost > 0 else None) for name, o in (outcomes or {}).items()}
    return CostFigures(
        predictions,
        float(cpu_seconds),
        float(price_per_core_hour),
        per_1000,
        cost,
        cost_per_1000,
        per_cost,
        tuple(notes),
    )


@dataclass(frozen=True)
class VariantEconomics:
    variant: Hashable
    outcomes: dict[str, OutcomeFigures]
    cost: CostFigures

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "outcomes": {k: v.to_dict() for k, v in self.outcomes.items()},
            "cost": self.cost.to_dict(),
        }


def variant_report(
    predictions: Mapping[Hashable, int],
    cpu_seconds: Mapping[Hashable, float],
    price_per_core_hour: float,
    outcomes: Mapping[Hashable, Mapping[str, OutcomeFigures]] | None = None,
) -> dict[Hashable, VariantEconomics]:
    """Outcomes and cost side by side per variant (predictions and CPU seconds per variant,
    outcomes from ``outcome_summary``)."""
    unknown = set(cpu_seconds) - set(predictions)
    if unknown:
        raise InvalidRequest(f"CPU seconds for variants without a prediction count: {sorted(map(str, unknown))}")
    result: dict[Hashable, VariantEconomics] = {}
    for variant, count in predictions.items():
        figures = dict((outcomes or {}).get(variant, {}))
        cost = cost_figures(count, float(cpu_seconds.get(variant, 0.0)), price_per_core_hour, figures)
        result[variant] = VariantEconomics(variant, figures, cost)
    return result
