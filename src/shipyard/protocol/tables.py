"""JSON tables to RawInputs: the row and column layouts KServe V1 and MLflow share.

- rows as lists (``[[1, 2], [3, 4]]``): one unnamed input, 2-D (or N-D for tensors);
- rows as records (``[{"a": 1}, {"a": 3}]``): one named input per key, every row the same keys;
- a dict of columns (``{"a": [1, 3]}``): one named input per key;
- split form (``columns`` + ``data`` rows): one 2-D input that names its columns.

Given the signature, numeric records and column dicts are decoded like the split form: one
``np.asarray`` over all the values into one 2-D table named in signature order, instead of
one array per column (``numeric_table`` says when that loses nothing).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest
from shipyard.protocol.jsonio import check_fields, holds_bools, infer_array, type_name
from shipyard.schema.batch import RawInput
from shipyard.schema.signature import FLOAT_DTYPES, Signature

_SPLIT_FIELDS = frozenset({"columns", "data", "index"})
_SHOWN = 5


def decode_rows(value: Any, *, where: str, signature: Signature | None = None) -> tuple[RawInput, ...]:
    """``value`` as a list of rows: lists (or scalars) give one unnamed input, records one per key."""
    if not isinstance(value, list):
        raise MalformedRequest(f"{where} must be an array of rows, not {type_name(value)}")
    if not value:
        # An empty table still decodes; the validator reports "no rows" with the others.
        return (RawInput(None, np.empty((0,))),)
    if isinstance(value[0], dict):
        return decode_records(value, where=where, signature=signature)
    return (RawInput(None, infer_array(value, where=where)),)


def decode_records(rows: Any, *, where: str, signature: Signature | None = None) -> tuple[RawInput, ...]:
    """Rows as ``{column: value}`` records: every row must name the same columns."""
    if not isinstance(rows, list):
        raise MalformedRequest(f"{where} must be an array of records, not {type_name(rows)}")
    if not rows:
        return (RawInput(None, np.empty((0,))),)
    if signature is not None:
        table = _records_table(rows, signature, where)
        if table is not None:
            return table
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


def decode_column_dict(value: Any, *, where: str, signature: Signature | None = None) -> tuple[RawInput, ...]:
    """``{name: values}``: one named input per key (columns, or tensors with a batch axis)."""
    if not isinstance(value, dict) or not value:
        raise MalformedRequest(f"{where} must be a non-empty object of named arrays")
    if signature is not None and signature.kind == "columns" and value.keys() == signature.index.keys():
        table = _columns_table(value, signature, where)
        if table is not None:
            return table
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


def numeric_table(values: list[Any], *, floats_only: bool) -> np.ndarray | None:
    """``values`` (JSON lists) as one numeric 2-D array, when taking them together gives each
    column what decoding it alone would: integers, or floats when every column they are for
    is a float field (an integer column beside a float one would come back as floats). None
    otherwise: text, nulls, booleans, ragged or empty data, which go column by column."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = array.dtype.kind
    if array.ndim != 2 or not array.size:
        return None
    if kind == "f" and not floats_only:
        return None
    if kind not in "iuf" or holds_bools(values, array):
        return None
    return array


def _numeric_part(signature: Signature) -> tuple[tuple[str, ...], bool] | None:
    """The signature's numeric columns, and whether they are all floats; None when fewer than
    two (nothing to gain from a table)."""
    names = signature.numeric_names
    if signature.kind != "columns" or len(names) < 2:
        return None
    if len(names) == len(signature.inputs):
        floats = signature.input_dtypes <= FLOAT_DTYPES
    else:
        floats = all(signature.inputs[signature.index[n]].dtype in FLOAT_DTYPES for n in names)
    return names, floats


def _columns_table(value: dict[str, Any], signature: Signature, where: str) -> tuple[RawInput, ...] | None:
    """A dict naming exactly the signature's columns: the numeric ones as one table, the
    others (text, booleans) one input each, in the order the request gave them."""
    part = _numeric_part(signature)
    if part is None:
        return None
    names, floats = part
    columns = [value[name] for name in names]
    if any(type(c) is not list for c in columns):
        return None
    array = numeric_table(columns, floats_only=floats)
    if array is None:
        return None
    if len(names) == len(value):
        return (RawInput(None, array.T, column_names=names),)
    n = array.shape[1]
    others = [name for name in value if name not in signature.numeric_names]
    # Columns of another length: the per-column path words that error.
    if any(type(value[name]) is not list or len(value[name]) != n for name in others):
        return None
    rest = (RawInput(name, infer_array(value[name], where=f"{where}[{name!r}]")) for name in others)
    return (RawInput(None, array.T, column_names=names), *rest)


def _records_table(rows: list[Any], signature: Signature, where: str) -> tuple[RawInput, ...] | None:
    """Records naming exactly the signature's columns: the numeric ones as one table in
    signature order, the others one input each, in the order the first record gives them."""
    part = _numeric_part(signature)
    if part is None:
        return None
    names, floats = part
    everything = signature.input_names
    try:
        # A C-level pick per row; a row that is not an object or lacks a column raises.
        values = list(map(itemgetter(*everything), rows))
    except (KeyError, TypeError):
        return None
    if set(map(len, rows)) != {len(everything)}:
        return None
    if len(names) != len(everything):
        others = [name for name in rows[0] if name not in names]
        positions = [signature.index[name] for name in names]
        numeric = list(map(itemgetter(*positions), values))
    else:
        others, numeric = [], values
    array = numeric_table(numeric, floats_only=floats)
    if array is None:
        return None
    rest = (
        RawInput(name, infer_array([row[name] for row in rows], where=f"{where} column {name!r}")) for name in others
    )
    return (RawInput(None, array, column_names=names), *rest)
