"""Label, prediction and score vectors as the monitored figures take them, checked once.

Every figure (performance, estimated performance, fairness, outcomes) receives per-row
vectors from a window of the prediction log or from a user's frames: lists, numpy arrays
or pandas Series. They are turned into 1-D numpy arrays here, with one error per kind of
bad input (wrong shape, lengths that differ, missing labels, unknown positive label).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence, Sized
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.lineage.columns import is_missing, table_columns

Array = np.ndarray[Any, Any]


def vector(values: Any, name: str) -> Array:
    """``values`` as a 1-D array (a one-column 2-D array or frame counts as 1-D)."""
    if values is None:
        raise InvalidRequest(f"{name} is required")
    if hasattr(values, "to_numpy") and not hasattr(values, "columns"):
        dtype = getattr(values, "dtype", None)
        if isinstance(dtype, np.dtype):
            array = np.asarray(values.to_numpy())
        else:  # pandas extension dtypes: NA becomes None
            array = np.asarray(values.astype(object).where(values.notna(), None).to_numpy(), dtype=object)
    elif hasattr(values, "columns"):
        array = np.asarray(values.to_numpy())
    else:
        try:
            array = np.asarray(values)
        except ValueError as exc:  # ragged nested lists
            raise InvalidRequest(f"{name} is not a 1-D sequence: {exc}") from exc
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InvalidRequest(f"{name} must be 1-D, got shape {list(array.shape)}")
    return array


def scores(values: Any, name: str, n_classes: int | None = None) -> Array:
    """Scores or probabilities as float64: 1-D (one score per row) or 2-D (rows x classes)."""
    try:
        array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{name} must be numbers: {exc}") from exc
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2):
        raise InvalidRequest(f"{name} must be 1-D or 2-D, got shape {list(array.shape)}")
    if not np.isfinite(array).all():
        raise InvalidRequest(f"{name} holds NaN or infinite values")
    if n_classes is not None and array.ndim == 2 and array.shape[1] != n_classes:
        raise InvalidRequest(f"{name} has {array.shape[1]} columns for {n_classes} classes")
    return array


def same_length(**arrays: Sized) -> int:
    """The common length of ``arrays``; an error naming them when they differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InvalidRequest(f"inputs differ in length: {shown}")
    return next(iter(lengths.values()), 0)


def missing_mask(values: Array) -> Array:
    """True where a value is missing (None, NaN, pandas NA/NaT)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.fromiter((is_missing(v) for v in values.tolist()), dtype=bool, count=len(values))
    if values.dtype.kind in "Mm":
        return np.isnat(values)
    return np.zeros(len(values), dtype=bool)


def no_missing(values: Array, name: str) -> Array:
    """``values`` unchanged, or an error if any is missing (unlabelled rows are the caller's to drop)."""
    mask = missing_mask(values)
    if mask.any():
        raise InvalidRequest(
            f"{name} has {int(mask.sum())} missing value(s) (None or NaN)",
            hint="pass only the rows whose labels have arrived",
        )
    return values


def _sort_key(value: object) -> tuple[str, Any]:
    if isinstance(value, bool | np.bool_):
        return ("0", int(value))
    if isinstance(value, int | float | np.integer | np.floating):
        return ("1", float(value))
    return ("2", str(value))


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (for JSON and dictionary keys)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def classes_of(*arrays: Array) -> list[Any]:
    """The distinct labels of ``arrays``, sorted (numbers before strings when mixed)."""
    seen: set[Any] = set()
    for array in arrays:
        seen.update(plain(v) for v in array.tolist())
    return sorted(seen, key=_sort_key)


def check_label(label: Any, classes: Sequence[Any], what: str = "pos_label") -> Any:
    """``label`` if it is one of ``classes`` (so 1 and 1.0 and True match as numpy does)."""
    for c in classes:
        if c == label and isinstance(c, str) == isinstance(label, str):
            return c
    raise InvalidRequest(f"{what} {label!r} is not one of the labels {list(classes)}")


def group_rows(keys: Any, n: int, name: str = "groups") -> list[tuple[Hashable, Array]]:
    """Row indices per distinct key, in order of first appearance.

    ``keys`` is one vector, or a frame/mapping of several (then each key is a tuple).
    """
    if hasattr(keys, "columns") or isinstance(keys, Mapping):
        columns = [c.values for c in table_columns(keys)]
        for c in columns:
            if len(c) != n:
                raise InvalidRequest(f"{name} has {len(c)} rows, expected {n}")
        rows = list(zip(*(c.tolist() for c in columns), strict=True))
        labels: list[Hashable] = [tuple(plain(v) for v in row) for row in rows]
        bad = [i for i, row in enumerate(rows) if any(is_missing(v) for v in row)]
    else:
        array = vector(keys, name)
        if len(array) != n:
            raise InvalidRequest(f"inputs differ in length: {name}={len(array)}, expected {n}")
        labels = [plain(v) for v in array.tolist()]
        bad = [i for i, v in enumerate(labels) if is_missing(v)]
    if bad:
        raise InvalidRequest(f"{name} has {len(bad)} missing value(s)", hint="give every row a group")
    index: dict[Hashable, list[int]] = {}
    for i, key in enumerate(labels):
        index.setdefault(key, []).append(i)
    return [(key, np.asarray(rows_of, dtype=np.int64)) for key, rows_of in index.items()]


def finite_or_none(value: float) -> float | None:
    """A metric's value, or None when it is NaN or infinite (undefined)."""
    value = float(value)
    return value if math.isfinite(value) else None
