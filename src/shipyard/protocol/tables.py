"""JSON tables to RawInputs: the row and column layouts KServe V1 and MLflow share.

- rows as lists (``[[1, 2], [3, 4]]``): one unnamed input, 2-D (or N-D for tensors);
- rows as records (``[{"a": 1}, {"a": 3}]``): one named input per key, every row the same keys;
- a dict of columns (``{"a": [1, 3]}``): one named input per key;
- split form (``columns`` + ``data`` rows): one 2-D input that names its columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest
from shipyard.protocol.jsonio import check_fields, infer_array, type_name
from shipyard.schema.batch import RawInput

_SPLIT_FIELDS = frozenset({"columns", "data", "index"})
_SHOWN = 5


def decode_rows(value: Any, *, where: str) -> tuple[RawInput, ...]:
    """``value`` as a list of rows: lists (or scalars) give one unnamed input, records one per key."""
    if not isinstance(value, list):
        raise MalformedRequest(f"{where} must be an array of rows, not {type_name(value)}")
    if not value:
        # An empty table still decodes; the validator reports "no rows" with the others.
        return (RawInput(None, np.empty((0,))),)
    if isinstance(value[0], dict):
        return decode_records(value, where=where)
    return (RawInput(None, infer_array(value, where=where)),)


def decode_records(rows: Any, *, where: str) -> tuple[RawInput, ...]:
    """Rows as ``{column: value}`` records: every row must name the same columns."""
    if not isinstance(rows, list):
        raise MalformedRequest(f"{where} must be an array of records, not {type_name(rows)}")
    if not rows:
        return (RawInput(None, np.empty((0,))),)
    first = rows[0]
    if not isinstance(first, dict) or not first:
        raise MalformedRequest(f"{where}: each row must be a non-empty object")
    keys = first.keys()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise MalformedRequest(f"{where}: row {index} is {type_name(row)}, not an object like row 0")
        if row.keys() != keys:
            missing = [k for k in keys if k not in row][:_SHOWN]
            extra = [k for k in row if k not in keys][:_SHOWN]
            detail = "; ".join(
                part for part in (f"lacks {missing}" if missing else "", f"has extra {extra}" if extra else "") if part
            )
            raise MalformedRequest(f"{where}: row {index} does not have the columns of row 0: {detail}")
    return tuple(
        RawInput(
            name,
            infer_array([row[name] for row in rows], where=f"{where} column {name!r}"),
        )
        for name in keys
    )


def decode_column_dict(value: Any, *, where: str) -> tuple[RawInput, ...]:
    """``{name: values}``: one named input per key (columns, or tensors with a batch axis)."""
    if not isinstance(value, dict) or not value:
        raise MalformedRequest(f"{where} must be a non-empty object of named arrays")
    return tuple(RawInput(str(name), infer_array(values, where=f"{where}[{name!r}]")) for name, values in value.items())


def decode_split(value: Any, *, where: str) -> RawInput:
    """pandas ``orient="split"``: ``columns`` names, ``data`` rows, an optional ``index`` (ignored)."""
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where} must be an object with 'columns' and 'data'")
    check_fields(value, allowed=_SPLIT_FIELDS, what=where)
    if "data" not in value:
        raise MalformedRequest(f"{where} needs 'data'")
    data = value["data"]
    if not isinstance(data, list):
        raise MalformedRequest(f"{where}: 'data' must be an array of rows, not {type_name(data)}")
    columns = value.get("columns")
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise MalformedRequest(f"{where}: 'columns' must be an array of strings")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise MalformedRequest(f"{where}: 'index' must be an array with one entry per row")
    if not data:
        width = len(columns) if columns is not None else 0
        return RawInput(None, np.empty((0, width)), column_names=tuple(columns) if columns is not None else None)
    array = infer_array(data, where=f"{where} data")
    if array.ndim != 2:
        raise MalformedRequest(f"{where}: 'data' must be rows of values, got shape {list(array.shape)}")
    if columns is not None and array.shape[1] != len(columns):
        raise MalformedRequest(f"{where}: rows have {array.shape[1]} values but there are {len(columns)} columns")
    return RawInput(None, array, column_names=tuple(columns) if columns is not None else None)
