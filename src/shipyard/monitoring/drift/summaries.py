"""Mergeable per-column summaries: what every drift test is computed from.

A column is summarised by its exact distinct values and their counts (plus its row, missing and
infinite counts, its pandas dtype name, and the type of its first and last non-missing value, which
is what Evidently's column-type inference looks at). Exact counts are lossless for every test here:
the sorted sample a KS test or a Wasserstein distance needs is ``np.repeat(values, counts)``, a
histogram over any edges is a cumulative sum read at ``searchsorted`` positions, and two windows'
summaries merge by adding counts. So a reference is summarised once (at registration, say) and
never read again, and windows of traffic merge into longer windows.

Missing values (NaN, None, NaT) and, for numbers, ±inf are counted and left out of ``values``, as
Evidently drops them (it replaces ±inf by NaN, then ``dropna()``) before any test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidRequest
from shipyard.monitoring.drift.parallel import parallel_map

FORMAT = "shipyard-drift-summary/1"


@dataclass(frozen=True, eq=False)
class ColumnSummary:
    """One column of one window (or of the reference), as exact value counts."""

    name: str
    dtype: str
    """The pandas dtype name of the column (``float64``, ``int64``, ``bool``, ``str``, ``object``, ...)."""
    rows: int
    missing: int
    """NaN, None and NaT values."""
    infinite: int = 0
    """±inf values (numeric columns): dropped with the missing ones before any test."""
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    """Distinct non-missing finite values: a sorted int64/float64 array for numeric columns, else objects."""
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    first_type: str | None = None
    """The Python type name of the first and last non-missing value (``object`` columns)."""
    last_type: str | None = None

    @property
    def numeric(self) -> bool:
        """Whether the values are numbers (int or float dtype), kept as a sorted numeric array."""
        return self.values.dtype.kind in "iuf"

    @property
    def n(self) -> int:
        """Non-missing finite values: the sample size every test sees."""
        return int(self.counts.sum())

    @property
    def nunique(self) -> int:
        return int(self.values.shape[0])

    @property
    def count(self) -> int:
        """Non-missing values, ±inf included (``pandas.Series.count``)."""
        return self.rows - self.missing

    def merge(self, other: ColumnSummary) -> ColumnSummary:
        """The summary of both windows, as if their rows had been concatenated (self first)."""
        if other.name != self.name:
            raise InvalidRequest(f"cannot merge summaries of different columns: {self.name!r} and {other.name!r}")
        if self.numeric and other.numeric:
            values, counts = _merge_numeric(self.values, self.counts, other.values, other.counts)
        elif self.nunique == 0 or other.nunique == 0 or not (self.numeric or other.numeric):
            values, counts = _merge_objects(self, other)
        else:
            raise InvalidRequest(f"cannot merge summaries of column {self.name!r}: one holds numbers, the other not")
        return ColumnSummary(
            name=self.name,
            dtype=_merged_dtype(self.dtype, other.dtype),
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            infinite=self.infinite + other.infinite,
            values=values,
            counts=counts,
            first_type=self.first_type if self.first_type is not None else other.first_type,
            last_type=other.last_type if other.last_type is not None else self.last_type,
        )

    def sample(self) -> np.ndarray:
        """The sorted non-missing finite sample itself (for numeric columns)."""
        return np.repeat(self.values, self.counts)


@dataclass(frozen=True, eq=False)
class DatasetSummary:
    """Every column of one frame (or of several merged windows), in the frame's column order."""

    rows: int
    columns: Mapping[str, ColumnSummary]

    def merge(self, other: DatasetSummary) -> DatasetSummary:
        if list(self.columns) != list(other.columns):
            missing = sorted(set(self.columns) ^ set(other.columns))
            raise InvalidRequest(
                f"cannot merge summaries with different columns: {', '.join(missing) or 'same names, other order'}"
            )
        merged = {name: column.merge(other.columns[name]) for name, column in self.columns.items()}
        return DatasetSummary(rows=self.rows + other.rows, columns=merged)

    def to_bytes(self) -> bytes:
        """A pickle-free encoding (``.npz``: numeric arrays, and JSON for the rest)."""
        return encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> DatasetSummary:
        return decode(data)


def summarize(frame: pd.DataFrame, *, threads: int | None = None) -> DatasetSummary:
    """Summarise every column of ``frame`` (columns in parallel; numpy sorts release the GIL)."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidRequest(f"expected a pandas DataFrame, got {type(frame).__name__}")
    names = [str(name) for name in frame.columns]
    if len(set(names)) != len(names):
        raise InvalidRequest("the frame has duplicate column names")
    series = [frame.iloc[:, index] for index in range(frame.shape[1])]
    columns = parallel_map(
        lambda item: summarize_column(item[0], item[1]), list(zip(names, series, strict=True)), threads
    )
    return DatasetSummary(rows=int(frame.shape[0]), columns=dict(zip(names, columns, strict=True)))


def summarize_column(name: str, series: pd.Series) -> ColumnSummary:
    dtype = series.dtype
    rows = int(series.shape[0])
    if dtype.kind in "iuf" and isinstance(dtype, np.dtype):
        array = series.to_numpy()
        missing = infinite = 0
        if dtype.kind == "f":
            finite = np.isfinite(array)
            if not finite.all():
                missing = int(np.isnan(array).sum())
                infinite = int((~finite).sum()) - missing
                array = array[finite]
            array = array.astype(np.float64, copy=False)
        elif dtype.kind == "i":  # integers repeat: hashing (pandas) beats sorting them all
            counted = series.value_counts(sort=False)
            values = counted.index.to_numpy(dtype=np.int64)
            order = np.argsort(values)
            return ColumnSummary(name, dtype.name, rows, 0, 0, values[order], counted.to_numpy(dtype=np.int64)[order])
        else:
            array = array.astype(np.int64, copy=False)
        values, counts = _distinct(array)
        return ColumnSummary(name, dtype.name, rows, missing, infinite, values, counts)
    if dtype.kind == "M" or isinstance(dtype, pd.DatetimeTZDtype):
        # Evidently leaves datetime columns out of drift: keep only the counts of rows.
        return ColumnSummary(name, str(dtype), rows, int(series.isna().sum()))
    if not isinstance(dtype, np.dtype) and getattr(dtype, "kind", "O") in "iufb" and dtype.name != "category":
        # pandas' nullable Int64/Float64/boolean: Evidently infers them as unknown; summarise as numbers.
        array = series.to_numpy(dtype=np.float64, na_value=np.nan)
        nan = np.isnan(array)
        finite = np.isfinite(array)
        values, counts = np.unique(array[finite], return_counts=True)
        return ColumnSummary(
            name, dtype.name, rows, int(nan.sum()), int((~finite).sum() - nan.sum()), values, counts.astype(np.int64)
        )
    if dtype == np.bool_:
        trues = int(np.count_nonzero(series.to_numpy()))
        present = [(False, rows - trues), (True, trues)]
        values = np.empty(sum(1 for _, count in present if count), dtype=object)
        values[:] = [value for value, count in present if count]
        counts = np.array([count for _, count in present if count], dtype=np.int64)
        return ColumnSummary(name, dtype.name, rows, 0, 0, values, counts)
    notna = series.notna().to_numpy()
    missing = rows - int(notna.sum())
    first_type = last_type = None
    if dtype.kind == "O" and missing < rows:
        positions = np.flatnonzero(notna)
        first_type = type(series.iat[int(positions[0])]).__name__
        last_type = type(series.iat[int(positions[-1])]).__name__
    try:
        counted = series.value_counts(dropna=True, sort=False)
    except TypeError:  # unhashable values (lists): Evidently calls such a column a list column, not tested
        return ColumnSummary(name, dtype.name, rows, missing, 0, first_type=first_type, last_type=last_type)
    counted = counted[counted.to_numpy() > 0]  # a categorical dtype lists unobserved categories with 0
    values = np.empty(len(counted), dtype=object)
    values[:] = [_plain(value) for value in counted.index]
    return ColumnSummary(
        name,
        dtype.name,
        rows,
        missing,
        0,
        values,
        counted.to_numpy(dtype=np.int64),
        first_type,
        last_type,
    )


def _distinct(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(array, return_counts=True)``, cheaper when every value is distinct (measurements).

    Counts may then be a read-only broadcast view; summaries never modify their arrays."""
    ordered = np.sort(array)
    new = ordered[1:] != ordered[:-1]
    if new.all():  # a read-only view of ones: no memory to allocate and fault in
        return ordered, np.broadcast_to(np.int64(1), ordered.shape)
    starts = np.flatnonzero(np.concatenate(([True], new)))
    return ordered[starts], np.diff(np.append(starts, ordered.shape[0])).astype(np.int64)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values (so keys compare and hash as Evidently's dict keys do)."""
    return value.item() if isinstance(value, np.generic) else value


def _merge_numeric(
    a_values: np.ndarray, a_counts: np.ndarray, b_values: np.ndarray, b_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    values, inverse = np.unique(np.concatenate([a_values, b_values]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([a_counts, b_counts]), minlength=values.shape[0])
    return values, counts.astype(np.int64)


def _merge_objects(a: ColumnSummary, b: ColumnSummary) -> tuple[np.ndarray, np.ndarray]:
    merged: dict[Any, int] = {}
    for summary in (a, b):
        for value, count in zip(summary.values.tolist(), summary.counts.tolist(), strict=True):
            merged[value] = merged.get(value, 0) + int(count)
    values = np.empty(len(merged), dtype=object)
    values[:] = list(merged)
    return values, np.fromiter(merged.values(), dtype=np.int64, count=len(merged))


def _merged_dtype(a: str, b: str) -> str:
    """The dtype pandas gives the concatenation of two columns of dtypes ``a`` and ``b`` (roughly)."""
    if a == b:
        return a
    numeric = ("int", "uint", "float")
    if a.startswith(numeric) and b.startswith(numeric):
        return "float64"
    if {a, b} <= {"str", "string", "object"}:
        return "object" if "object" in (a, b) else a
    return "object"


# --- encoding -------------------------------------------------------------------------------


def encode(summary: DatasetSummary) -> bytes:
    meta: dict[str, Any] = {"format": FORMAT, "rows": summary.rows, "columns": []}
    arrays: dict[str, np.ndarray] = {}
    for index, column in enumerate(summary.columns.values()):
        entry: dict[str, Any] = {
            "name": column.name,
            "dtype": column.dtype,
            "rows": column.rows,
            "missing": column.missing,
            "infinite": column.infinite,
            "first_type": column.first_type,
            "last_type": column.last_type,
        }
        if column.numeric:
            arrays[f"v{index}"] = column.values
        else:
            entry["values"] = [_json_value(column.name, value) for value in column.values.tolist()]
        arrays[f"c{index}"] = column.counts
        meta["columns"].append(entry)
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def decode(data: bytes) -> DatasetSummary:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes())
            if meta.get("format") != FORMAT:
                raise InvalidRequest(f"not a drift summary (format {meta.get('format')!r}, expected {FORMAT!r})")
            columns: dict[str, ColumnSummary] = {}
            for index, entry in enumerate(meta["columns"]):
                if "values" in entry:
                    values = np.empty(len(entry["values"]), dtype=object)
                    values[:] = entry["values"]
                else:
                    values = archive[f"v{index}"]
                columns[entry["name"]] = ColumnSummary(
                    name=entry["name"],
                    dtype=entry["dtype"],
                    rows=int(entry["rows"]),
                    missing=int(entry["missing"]),
                    infinite=int(entry["infinite"]),
                    values=values,
                    counts=archive[f"c{index}"].astype(np.int64),
                    first_type=entry["first_type"],
                    last_type=entry["last_type"],
                )
            return DatasetSummary(rows=int(meta["rows"]), columns=columns)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest(f"cannot read the drift summary: {exc}") from exc


def _json_value(column: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def merge_all(summaries: Iterable[DatasetSummary]) -> DatasetSummary:
    """Merge windows in order; at least one."""
    iterator = iter(summaries)
    try:
        merged = next(iterator)
    except StopIteration:
        raise InvalidRequest("no summaries to merge") from None
    for summary in iterator:
        merged = merged.merge(summary)
    return merged
