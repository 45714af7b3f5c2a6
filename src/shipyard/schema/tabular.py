"""The tables users hold, taken one way everywhere: a pandas DataFrame, a dict of columns,
a list of records, or a 2-D array (or nested list).

Registration (the sample, the training data), the compile check, the SDK's local and HTTP
paths and the stored input examples all start from one of these; ``is_frame`` is the one
test for "is it a DataFrame", and ``table_columns`` / ``table_array`` the one reading of it.
pandas is never imported here: a DataFrame is recognised by what it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest


def is_frame(data: Any) -> bool:
    """True for a pandas DataFrame (or anything shaped like one: columns, dtypes, iloc)."""
    return hasattr(data, "columns") and hasattr(data, "dtypes") and hasattr(data, "iloc")


def is_records(data: Any) -> bool:
    """True for a non-empty list of ``{column: value}`` objects (rows as JSON holds them)."""
    return isinstance(data, list) and bool(data) and all(isinstance(row, Mapping) for row in data)


def table_columns(data: Any) -> dict[str, np.ndarray] | None:
    """Named 1-D columns of a DataFrame, a mapping or records; None for an unnamed array."""
    if is_frame(data):
        return {str(c): data[c].to_numpy() for c in data.columns}
    if is_records(data):
        names = list(data[0])
        if any(row.keys() != data[0].keys() for row in data):
            raise InvalidRequest("every record needs the same columns as the first")
        return {str(n): np.asarray([row[n] for row in data]) for n in names}
    if isinstance(data, Mapping):
        columns = {str(k): np.asarray(v) for k, v in data.items()}
        if not columns or any(c.ndim != 1 for c in columns.values()):
            raise InvalidRequest("a dict of columns needs at least one column, each a 1-D sequence")
        return columns
    return None


def table_array(data: Any) -> np.ndarray:
    """An unnamed table as a 2-D array (a 1-D array is one column)."""
    array = np.asarray(data)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidRequest(
            f"expected a table (2-D), got shape {list(array.shape)}",
            hint="pass a DataFrame, a 2-D array, a dict of columns or a list of records",
        )
    return array


def n_rows(data: Any) -> int:
    """How many rows the table holds."""
    columns = table_columns(data)
    if columns is not None:
        return len(next(iter(columns.values())))
    return int(table_array(data).shape[0])


def take_rows(data: Any, index: Any) -> Any:
    """The rows at ``index`` (a slice or integer positions), in the table's own kind."""
    if is_frame(data):
        return data.iloc[index]
    if is_records(data):
        return [data[i] for i in np.arange(len(data))[index].tolist()]
    if isinstance(data, Mapping):
        return {k: np.asarray(v)[index] for k, v in data.items()}
    return np.asarray(data)[index]


def head(data: Any, rows: int) -> Any:
    """The first ``rows`` rows."""
    return take_rows(data, slice(0, rows))
