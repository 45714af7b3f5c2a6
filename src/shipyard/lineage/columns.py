"""Turn whatever a user trained on into named 1-D columns, the one shape lineage works with.

Accepted: a pandas DataFrame, a 2-D numpy array (columns ``x0, x1, ...``), a mapping of
name to 1-D values, or anything ``numpy.asarray`` makes 1-D or 2-D. A target, when given,
becomes the last column(s). pandas is never imported here: if it is not already loaded,
the data cannot be a pandas object.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest

logger = logging.getLogger(__name__)

NUMPY_KINDS = frozenset("biufMm")


@dataclass(frozen=True)
class Column:
    """One named column: a 1-D numpy array and the dtype label recorded in lineage."""

    name: str
    dtype: str
    values: np.ndarray[Any, Any]
    """Native numpy for bool, numbers and datetimes; an object array for everything else."""


def _is_pandas(obj: object, kind: str) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, getattr(pandas, kind))


def is_missing(value: object) -> bool:
    """None, a float NaN, pandas' NA or NaT: the values every encoding treats as missing."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


def _label(array: np.ndarray[Any, Any]) -> str:
    kind = array.dtype.kind
    if kind == "U":
        return "string"
    if kind == "S":
        return "bytes"
    if kind == "O":
        present = [v for v in array if not is_missing(v)]
        return "string" if all(isinstance(v, str) for v in present) else "object"
    if kind in "Mm":
        return str(array.dtype)
    return str(array.dtype.name)


def _from_array(name: str, raw: Any) -> Column:
    if _is_pandas(raw, "Series"):
        dtype = raw.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in NUMPY_KINDS | {"U", "S", "O"}:
            values = raw.to_numpy()
            return Column(name, _label(values), values)
        # Extension dtypes (category, Int64, boolean, string, tz-aware datetimes) carry
        # their own missing marker; as objects with None they encode unambiguously.
        values = np.asarray(raw.astype(object).where(raw.notna(), None).to_numpy(), dtype=object)
        if isinstance(dtype, sys.modules["pandas"].StringDtype):
            # pandas 3 infers "str" where pandas 2 gave object: one label for both.
            return Column(name, "string", values)
        return Column(name, str(dtype), values)
    values = np.asarray(raw)
    if values.ndim != 1:
        raise InvalidRequest(f"column {name!r} must be 1-D, got shape {list(values.shape)}")
    if values.dtype.kind in {"c", "V"}:
        raise InvalidRequest(f"column {name!r} has unsupported dtype {values.dtype}")
    return Column(name, _label(values), values)


def _columns_of(data: Any, default_prefix: str) -> list[Column]:
    if _is_pandas(data, "DataFrame"):
        return [_from_array(str(name), data[name]) for name in data.columns]
    if _is_pandas(data, "Series"):
        return [_from_array(str(data.name) if data.name is not None else f"{default_prefix}0", data)]
    if isinstance(data, Mapping):
        return [_from_array(str(name), values) for name, values in data.items()]
    array = np.asarray(data)
    if array.ndim == 1:
        return [_from_array(f"{default_prefix}0", array)]
    if array.ndim != 2:
        raise InvalidRequest(f"training data must be 1-D or 2-D, got shape {list(array.shape)}")
    return [_from_array(f"{default_prefix}{i}", array[:, i]) for i in range(array.shape[1])]


def table_columns(data: Any, target: Any = None, *, target_name: str = "target") -> list[Column]:
    """The columns of ``data`` followed by the target's; all the same length, names unique."""
    columns = _columns_of(data, "x")
    if target is not None:
        if _is_pandas(target, "Series"):
            columns.append(_from_array(target_name, target))
        elif _is_pandas(target, "DataFrame"):
            columns.extend(_columns_of(target, target_name))
        else:
            as_array = np.asarray(target)
            if as_array.ndim == 2 and as_array.shape[1] == 1:
                as_array = as_array[:, 0]  # a column vector is still one target
            if as_array.ndim == 1:
                columns.append(_from_array(target_name, as_array))
            else:
                columns.extend(_columns_of(as_array, f"{target_name}_"))
    if not columns:
        raise InvalidRequest("training data has no columns")
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidRequest(f"training data has duplicate column names: {duplicates}")
    lengths = {len(c.values) for c in columns}
    if len(lengths) != 1:
        raise InvalidRequest(f"training data columns differ in length: {sorted(lengths)}")
    return columns
