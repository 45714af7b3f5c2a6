"""Turning the tables users hold (DataFrame, 2-D array, dict of columns) into what the
registry and the wire formats take: raw inputs, V2 requests, ``{"columns", "data"}`` JSON.

Shared by the local SDK, the HTTP client, the CLI and the demo, so that a table means the
same thing on every path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.protocol.datatypes import v2_datatype
from shipyard.schema.batch import RawInput, RawInputs


def _is_frame(data: Any) -> bool:
    return hasattr(data, "columns") and hasattr(data, "iloc")


def table_columns(data: Any) -> dict[str, np.ndarray] | None:
    """Named 1-D columns of a DataFrame or a mapping; None for an unnamed array."""
    if _is_frame(data):
        return {str(c): data[c].to_numpy() for c in data.columns}
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
            hint="pass a DataFrame, a 2-D array or a dict of columns",
        )
    return array


def raw_inputs(data: Any) -> RawInputs:
    """``data`` decoded as a client request would be: named columns or one unnamed matrix."""
    columns = table_columns(data)
    if columns is not None:
        return RawInputs(tuple(RawInput(name, array) for name, array in columns.items()))
    return RawInputs((RawInput(None, table_array(data)),))


def v2_request(data: Any) -> dict[str, Any]:
    """A V2 ``/infer`` JSON body: one input per named column, or one ``[n, k]`` tensor."""
    columns = table_columns(data)
    if columns is None:
        array = table_array(data)
        return {"inputs": [_v2_tensor("input-0", array)]}
    return {"inputs": [_v2_tensor(name, array) for name, array in columns.items()]}


def _v2_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = v2_datatype(array.dtype, name=name)
    values = array.ravel().tolist()
    if datatype == "BYTES":
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else _json_scalar(v) for v in values]
    else:
        values = [_json_scalar(v) for v in values]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": values}


def split_table(data: Any) -> dict[str, Any]:
    """``{"columns": [...], "data": [[...]]}`` (pandas' split orientation, also MLflow's)."""
    columns = table_columns(data)
    if columns is None:
        array = table_array(data)
        names = [f"x{i}" for i in range(array.shape[1])]
        rows = array.tolist()
    else:
        names = list(columns)
        rows = [list(row) for row in zip(*(c.tolist() for c in columns.values()), strict=True)]
    return {"columns": names, "data": [[_json_scalar(v) for v in row] for row in rows]}


def _json_scalar(value: Any) -> Any:
    # JSON has no NaN: a missing value travels as null, which nullable fields accept.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_scalar(value.item())
    return value


def n_rows(data: Any) -> int:
    columns = table_columns(data)
    if columns is not None:
        return len(next(iter(columns.values())))
    return int(table_array(data).shape[0])
