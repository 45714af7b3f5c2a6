"""Turning the tables users hold (``schema.tabular``: DataFrame, dict of columns, records,
2-D array) into what the wire formats take: V2 requests, ``{"columns", "data"}`` JSON.

Shared by the local SDK, the HTTP client, the CLI and the demo, so that a table means the
same thing on every path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shipyard.protocol.datatypes import v2_datatype
from shipyard.schema.batch import RawInputs
from shipyard.schema.tabular import table_array, table_columns


def raw_inputs(data: Any) -> RawInputs:
    """``data`` decoded as a client request would be (``RawInputs.from_table``)."""
    return RawInputs.from_table(data)


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
