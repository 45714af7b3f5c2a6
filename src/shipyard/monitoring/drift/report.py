"""A drift report: one result per column, the share of drifted columns and the dataset verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    column_type: str
    """``num`` or ``cat``."""
    stattest: str
    """The test's name (``ks``, ``chisquare``, ``z``, ``wasserstein``, ``jensenshannon``, ``psi``)."""
    stattest_title: str
    """Evidently's display name for it (``K-S p_value``, ``Wasserstein distance (normed)``, ...)."""
    score: float
    """Evidently's ``drift_score``: the p-value for ``ks``/``chisquare``/``z``, else the distance."""
    statistic: float | None
    """The test statistic (KS D, chi², z, un-normed Wasserstein distance) where there is one."""
    p_value: float | None
    threshold: float
    drift_detected: bool
    reference_rows: int
    current_rows: int
    """Non-missing finite values each side contributed."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "column_type": self.column_type,
            "stattest": self.stattest,
            "stattest_title": self.stattest_title,
            "score": _json_float(self.score),
            "statistic": _json_float(self.statistic),
            "p_value": _json_float(self.p_value),
            "threshold": self.threshold,
            "drift_detected": self.drift_detected,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }


@dataclass(frozen=True)
class DriftReport:
    columns: Mapping[str, ColumnDrift]
    drift_share: float
    """The share of drifted columns at or above which the dataset counts as drifted (default 0.5)."""
    mode: str = "evidently"
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Columns not tested, with the reason (text, datetime or unknown type; only in the reference)."""

    @property
    def number_of_columns(self) -> int:
        return len(self.columns)

    @property
    def number_of_drifted_columns(self) -> int:
        return sum(1 for result in self.columns.values() if result.drift_detected)

    @property
    def share_of_drifted_columns(self) -> float:
        return self.number_of_drifted_columns / self.number_of_columns if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.share_of_drifted_columns >= self.drift_share

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, result in self.columns.items() if result.drift_detected]

    def __getitem__(self, column: str) -> ColumnDrift:
        return self.columns[column]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "number_of_columns": self.number_of_columns,
            "number_of_drifted_columns": self.number_of_drifted_columns,
            "share_of_drifted_columns": self.share_of_drifted_columns,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "columns": {name: result.to_dict() for name, result in self.columns.items()},
            "skipped": dict(self.skipped),
        }


def _json_float(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: those become strings."""
    if value is None or math.isfinite(value):
        return value
    return str(value)
