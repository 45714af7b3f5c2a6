"""Data drift equal to Evidently 0.7's, computed from mergeable per-column summaries.

``drift_report(reference, current)`` takes pandas DataFrames or ``DatasetSummary`` objects
(``summarize(frame)``; ``a.merge(b)`` for two windows). See docs/monitoring.md for every formula.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.monitoring.drift.engine import drift_report
    from shipyard.monitoring.drift.report import ColumnDrift, DriftReport
    from shipyard.monitoring.drift.stattests import STATTESTS
    from shipyard.monitoring.drift.summaries import ColumnSummary, DatasetSummary, merge_all, summarize

__all__ = [
    "STATTESTS",
    "ColumnDrift",
    "ColumnSummary",
    "DatasetSummary",
    "DriftReport",
    "drift_report",
    "merge_all",
    "summarize",
]

_HOMES = {
    "drift_report": "engine",
    "ColumnDrift": "report",
    "DriftReport": "report",
    "STATTESTS": "stattests",
    "ColumnSummary": "summaries",
    "DatasetSummary": "summaries",
    "merge_all": "summaries",
    "summarize": "summaries",
}


def __getattr__(name: str) -> Any:
    """Import on first use: scipy is only loaded when a test runs."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
