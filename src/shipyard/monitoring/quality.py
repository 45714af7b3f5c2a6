"""Data quality of a window of inputs, per feature, against the version's reference profile
(``shipyard.lineage.profile``) and signature (``shipyard.schema.signature``).

Per feature:

- **missing**: values that are None, NaN, pandas NA or NaT; the rate is over the window's rows,
  next to the reference's rate. In a field the signature does not declare ``nullable`` each
  one is also a *null violation*.
- **out of range** (numeric): present values below the reference ``min`` or above its
  ``max`` (infinities included), over the present numeric values.
- **unseen categories** (categorical): present values not among the profile's ``top``
  categories. The profile keeps only its ``top_k`` most frequent values; when the reference
  had more (its ``other`` count is above 0) a value counted unseen may have been in the
  reference after all, so the figure is an upper bound: ``unseen_exact`` is False then.
- **type violations**: present values whose type the declared dtype does not admit
  (a string in a float64 field, 2.5 in an int64 field, 1 in a bool field). The expected
  dtype is the signature's, else the profile's type (numeric, boolean; a ``string``
  categorical wants strings).

Per window: **schema violations**, the declared columns that are missing and the columns
that were not declared (the expected columns are the signature's inputs, else the
profile's columns without its target).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.lineage.columns import Column, table_columns
from shipyard.monitoring.labels import Array, missing_mask
from shipyard.schema.signature import FLOAT_DTYPES, NUMERIC_DTYPES, Signature

EXAMPLES = 5
INTEGER_DTYPES = NUMERIC_DTYPES - FLOAT_DTYPES


@dataclass(frozen=True)
class ColumnQuality:
    name: str
    rows: int
    kind: str
    """numeric, boolean or categorical: what the column is expected to hold."""
    expected_dtype: str | None
    observed_dtype: str
    missing: int
    missing_rate: float
    reference_missing_rate: float | None
    null_violations: int
    type_violations: int
    type_examples: tuple[str, ...] = ()
    out_of_range: int | None = None
    out_of_range_share: float | None = None
    below: int | None = None
    above: int | None = None
    unseen: int | None = None
    unseen_share: float | None = None
    unseen_exact: bool | None = None
    unseen_examples: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def dtype_ok(self) -> bool:
        return self.type_violations == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": self.rows,
            "kind": self.kind,
            "expected_dtype": self.expected_dtype,
            "observed_dtype": self.observed_dtype,
            "dtype_ok": self.dtype_ok,
            "missing": self.missing,
            "missing_rate": self.missing_rate,
            "reference_missing_rate": self.reference_missing_rate,
            "null_violations": self.null_violations,
            "type_violations": self.type_violations,
            "type_examples": list(self.type_examples),
            "out_of_range": self.out_of_range,
            "out_of_range_share": self.out_of_range_share,
            "below": self.below,
            "above": self.above,
            "unseen": self.unseen,
            "unseen_share": self.unseen_share,
            "unseen_exact": self.unseen_exact,
            "unseen_examples": dict(self.unseen_examples),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class QualityReport:
    rows: int
    columns: dict[str, ColumnQuality]
    missing_columns: tuple[str, ...]
    unexpected_columns: tuple[str, ...]

    @property
    def schema_ok(self) -> bool:
        """No missing or undeclared column, no type or null violation."""
        return (
            not self.missing_columns
            and not self.unexpected_columns
            and all(c.dtype_ok and c.null_violations == 0 for c in self.columns.values())
        )

    def summary(self) -> dict[str, Any]:
        """Window-level figures: the worst column for each check, and totals."""
        cols = list(self.columns.values())

        def worst(values: list[float | None]) -> float | None:
            present = [v for v in values if v is not None]
            return max(present) if present else None

        return {
            "rows": self.rows,
            "schema_ok": self.schema_ok,
            "missing_columns": len(self.missing_columns),
            "unexpected_columns": len(self.unexpected_columns),
            "max_missing_rate": worst([c.missing_rate for c in cols]),
            "max_out_of_range_share": worst([c.out_of_range_share for c in cols]),
            "max_unseen_share": worst([c.unseen_share for c in cols]),
            "type_violations": sum(c.type_violations for c in cols),
            "null_violations": sum(c.null_violations for c in cols),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "schema_ok": self.schema_ok,
            "missing_columns": list(self.missing_columns),
            "unexpected_columns": list(self.unexpected_columns),
            "summary": self.summary(),
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
        }


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def _admits(dtype: str | None, kind: str, value: object) -> bool:
    """Whether a present ``value`` fits the expected dtype (or profile kind)."""
    if dtype in NUMERIC_DTYPES or (dtype is None and kind == "numeric"):
        if not _is_number(value):
            return False
        fractional = isinstance(value, float | np.floating) and not float(value).is_integer()
        return dtype not in INTEGER_DTYPES or not fractional
    if dtype == "bool" or (dtype is None and kind == "boolean"):
        return isinstance(value, bool | np.bool_)
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "bytes":
        return isinstance(value, bytes)
    return True


def _kind(dtype: str | None, reference: Mapping[str, Any] | None) -> str:
    if reference is not None:
        return str(reference["type"])
    if dtype in NUMERIC_DTYPES:
        return "numeric"
    return "boolean" if dtype == "bool" else "categorical"


def _native_fits(dtype: str | None, kind: str, numpy_kind: str) -> bool:
    """Whether every value of a native numpy column of this kind fits, without looking."""
    if (dtype == "bool" or (dtype is None and kind == "boolean")) and numpy_kind == "b":
        return True
    if (dtype is None and kind == "categorical") or (dtype == "string" and numpy_kind == "U"):
        return True
    return dtype is None and kind == "numeric" and numpy_kind in "Mm"  # profiled as seconds


def _type_violations(values: Array, present: Array, dtype: str | None, kind: str) -> tuple[Array, tuple[str, ...]]:
    """A mask of present values the dtype does not admit, and a few of them as examples."""
    k = values.dtype.kind
    numeric_expected = dtype in NUMERIC_DTYPES or (dtype is None and kind == "numeric")
    # Native numpy columns decide in one step.
    if numeric_expected and k in "iuf":
        bad = np.zeros(len(values), dtype=bool)
        if dtype in INTEGER_DTYPES and k == "f":
            with np.errstate(invalid="ignore"):
                bad = present & (np.mod(values, 1) != 0)
    elif _native_fits(dtype, kind, k):
        bad = np.zeros(len(values), dtype=bool)
    else:
        items = values.tolist()
        bad = np.fromiter(
            (bool(p) and not _admits(dtype, kind, v) for v, p in zip(items, present.tolist(), strict=True)),
            dtype=bool,
            count=len(values),
        )
    examples = tuple(repr(v) for v in values[bad][:EXAMPLES].tolist())
    return bad, examples


def _numbers(values: Array, usable: Array) -> Array:
    if values.dtype.kind in "Mm":  # as the profile has them: seconds (since the epoch)
        unit = "datetime64[ns]" if values.dtype.kind == "M" else "timedelta64[ns]"
        return values[usable].astype(unit).astype(np.int64) / 1e9
    if values.dtype.kind in "iuf":
        return values[usable].astype(np.float64)
    return np.asarray([float(v) for v in values[usable].tolist()], dtype=np.float64)


def _category(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _column(column: Column, dtype: str | None, nullable: bool, reference: Mapping[str, Any] | None) -> ColumnQuality:
    values = column.values
    rows = len(values)
    kind = _kind(dtype, reference)
    missing = missing_mask(values)
    present = ~missing
    check = dtype
    if check is None and kind == "categorical" and reference is not None and reference.get("dtype") == "string":
        check = "string"
    bad, examples = _type_violations(values, present, check, kind)
    usable = present & ~bad
    n_missing = int(missing.sum())
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if reference is None:
        notes.append("no reference profile: range and category checks skipped")
    elif kind == "numeric" and reference.get("min") is None:
        notes.append("the reference had no finite values in this column: range check skipped")
    elif kind == "numeric":
        x = _numbers(values, usable)
        below = int((x < float(reference["min"])).sum())
        above = int((x > float(reference["max"])).sum())
        extra.update(
            below=below,
            above=above,
            out_of_range=below + above,
            out_of_range_share=(below + above) / len(x) if len(x) else None,
        )
    elif kind == "categorical":
        top = reference.get("top", {})
        counts = Counter(_category(v) for v in values[usable].tolist())
        unseen = {v: c for v, c in counts.items() if v not in top}
        total = sum(unseen.values())
        exact = int(reference.get("other", 0)) == 0
        if not exact:
            notes.append(
                f"approximate: the reference kept its top {len(top)} categories and counted "
                f"{reference.get('other')} other values, so an 'unseen' value may have been among them"
            )
        shown = sorted(unseen.items(), key=lambda kv: (-kv[1], kv[0]))[:EXAMPLES]
        extra.update(
            unseen=total,
            unseen_share=total / int(usable.sum()) if usable.any() else None,
            unseen_exact=exact,
            unseen_examples=dict(shown),
        )
    return ColumnQuality(
        name=column.name,
        rows=rows,
        kind=kind,
        expected_dtype=dtype if dtype is not None else (reference or {}).get("dtype"),
        observed_dtype=column.dtype,
        missing=n_missing,
        missing_rate=n_missing / rows if rows else 0.0,
        reference_missing_rate=float(reference["missing_rate"]) if reference is not None else None,
        null_violations=0 if nullable else n_missing,
        type_violations=int(bad.sum()),
        type_examples=examples,
        notes=tuple(notes),
        **extra,
    )


def _list_column(values: Sequence[Any]) -> Array:
    types = {type(v) for v in values if v is not None}
    # One Python type (or ints with floats) converts faithfully; a mix would be coerced
    # (True and 0 to integers, numbers to strings), so it stays as objects.
    if types <= {int, float} or len(types) == 1:
        array = np.asarray(values) if values else np.asarray([], dtype=object)
    else:
        array = np.asarray(values, dtype=object)
    if array.ndim != 1:  # nested values: kept one per row, as objects
        array = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            array[i] = value
    return array


def _columns(data: Any) -> list[Column]:
    """The window's columns; lists keep their values' own types (numpy would turn a list
    mixing numbers and strings into all strings, hiding the type violation)."""
    if isinstance(data, Mapping):
        if not data:
            return []
        plain: dict[str, Any] = {}
        for name, raw in data.items():
            plain[str(name)] = _list_column(raw) if isinstance(raw, list | tuple) else raw
        data = plain
    return table_columns(data)


def _as_signature(signature: Signature | Mapping[str, Any] | None) -> Signature | None:
    if signature is None or isinstance(signature, Signature):
        return signature
    return Signature.from_dict(signature)


def quality_report(
    data: Any,
    profile: Mapping[str, Any] | None = None,
    signature: Signature | Mapping[str, Any] | None = None,
) -> QualityReport:
    """The data quality of ``data`` (a frame or a mapping of column to values, e.g. the
    ``inputs`` of logged records) against a reference ``profile`` and/or a ``signature``."""
    sig = _as_signature(signature)
    if profile is None and sig is None:
        raise InvalidRequest("data quality needs a reference profile or a signature to check against")
    if sig is not None and sig.kind != "columns":
        raise InvalidRequest("data quality is checked per column: the signature is not a columns signature")
    if profile is not None and not isinstance(profile.get("columns"), Mapping):
        raise InvalidRequest("the reference profile has no columns (not a shipyard.lineage profile)")
    references: Mapping[str, Any] = profile["columns"] if profile is not None else {}
    if sig is not None:
        expected: Sequence[str] = sig.input_names
        specs: dict[str, tuple[str | None, bool]] = {f.name: (f.dtype, f.nullable) for f in sig.inputs}
    else:
        target = profile.get("target") if profile is not None else None
        expected = [name for name in references if name != target]
        specs = {name: (None, True) for name in expected}
    columns = _columns(data)
    present = {c.name: c for c in columns}
    rows = len(columns[0].values) if columns else 0
    report: dict[str, ColumnQuality] = {}
    for name in expected:
        column = present.get(name)
        if column is None:
            continue
        dtype, nullable = specs[name]
        reference = references.get(name)
        if reference is not None and reference.get("type") not in ("numeric", "boolean", "categorical"):
            raise InvalidRequest(f"the reference profile of {name!r} has an unknown type {reference.get('type')!r}")
        report[name] = _column(column, dtype, nullable, reference)
    return QualityReport(
        rows=rows,
        columns=report,
        missing_columns=tuple(n for n in expected if n not in present),
        unexpected_columns=tuple(n for n in present if n not in set(expected)),
    )
