"""The drift reference of a model version: its training data (and target), summarised once."""

from __future__ import annotations

from typing import Any

import pandas as pd

from shipyard.lineage.columns import table_columns
from shipyard.monitoring.drift.summaries import DatasetSummary, summarize

REFERENCE_FILENAME = "drift-reference.npz"


def training_frame(data: Any, target: Any = None) -> pd.DataFrame:
    """The training data as a frame with the names the lineage profile uses (``x0``... for arrays,
    ``target`` for an unnamed target); a DataFrame keeps its own columns and dtypes."""
    if isinstance(data, pd.DataFrame) and target is None:
        return data
    if isinstance(data, pd.DataFrame) and isinstance(target, pd.Series):
        name = str(target.name) if target.name is not None else "target"
        if name not in data.columns:
            return data.assign(**{name: target.to_numpy()})
    return pd.DataFrame({column.name: column.values for column in table_columns(data, target)})


def summarize_training_data(data: Any, target: Any = None) -> DatasetSummary:
    return summarize(training_frame(data, target))
