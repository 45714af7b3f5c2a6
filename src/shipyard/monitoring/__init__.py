"""Monitoring: the prediction log and the figures computed on it.

The offline entry points are imported lazily, so ``import shipyard.monitoring`` stays light
(scikit-learn and pandas load only when a figure is asked for).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# name -> module that defines it; other helpers add their own entries.
_LAZY = {
    "fairness_report": "shipyard.monitoring.fairness",
    "FairnessReport": "shipyard.monitoring.fairness",
    "drift_report": "shipyard.monitoring.drift.engine",
    "DriftReport": "shipyard.monitoring.drift.report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.monitoring' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = ["FairnessReport", "fairness_report"]
