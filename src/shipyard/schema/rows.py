"""Which rows of a table a signature refuses, found a whole column at a time (no loop over rows).

``validate_inputs`` takes or refuses a request whole: one bad value refuses it. Batch scoring
sets the refused rows aside and scores the others, so it asks here first: a null where the
field is not nullable (or where the field is a number type that cannot hold one), an
infinity, a value outside the range of the field's type, a fraction in an integer field.
The reasons are the data plane's own words.

The rows kept then go through ``validate_inputs`` itself, so the data plane's rules stay the
ones that decide; this module only has to find the refused rows without looking at rows one
by one. ``column_refusal`` says when a column's type can never fit its field (text in a
number field): a caller that knows the types up front (a Parquet schema) refuses the whole
input then, rather than setting every row aside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.schema.signature import FLOAT_DTYPES, FieldSpec, Signature, numpy_dtype
from shipyard.schema.validate import to_float

_TEXT = ("string", "bytes")


@dataclass(frozen=True)
class Refusals:
    """Per row of a table: refused or not, and why."""

    refused: np.ndarray
    """bool ``[n]``: True for a row the signature refuses."""
    reasons: np.ndarray
    """object ``[n]``: the reason for each refused row (the first field that refuses it), None elsewhere."""

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.refused))


def column_refusal(spec: FieldSpec, dtype: np.dtype[Any], *, declared: bool = True) -> str | None:
    """Why no value held in ``dtype`` can fill ``spec`` under the data plane's casting rules,
    or None when some can. ``declared``: the dtype is the source's own declaration (a typed
    file), so a float column never fills an integer field, even with whole numbers."""
    kind = dtype.kind
    target = spec.dtype
    if target in _TEXT:
        fits = kind in "USO"
    elif target == "bool":
        fits = kind == "b"
    elif target in FLOAT_DTYPES:
        fits = kind in "iuf"
    else:
        fits = kind in "iu" or (kind == "f" and not declared)
    if fits:
        return None
    got = "string" if kind in "UO" else "bytes" if kind == "S" else dtype.name
    return f"column {spec.name!r}: expected {target}, got {got}"


def refused_rows(
    signature: Signature,
    columns: Mapping[str, np.ndarray],
    nulls: Mapping[str, np.ndarray] | None = None,
    *,
    declared: bool = True,
) -> Refusals:
    """The rows of ``columns`` (one 1-D array per input of a ``columns`` signature) that
    ``signature`` refuses. ``nulls``: per column, a mask of the missing values where the
    array itself cannot show them (integers, booleans); NaN in a float array and None in an
    object array count as missing too."""
    n = len(next(iter(columns.values())))
    refused = np.zeros(n, dtype=bool)
    reasons = np.full(n, None, dtype=object)

    def mark(mask: np.ndarray, reason: str) -> None:
        new = mask & ~refused
        if new.any():
            reasons[new] = reason
            refused[new] = True

    for spec in signature.inputs:
        values = columns[spec.name]
        label = f"column {spec.name!r}"
        whole = column_refusal(spec, values.dtype, declared=declared)
        if whole is not None:
            mark(np.ones(n, dtype=bool), whole)
            continue
        given = None if nulls is None else nulls.get(spec.name)
        target = spec.dtype
        if target in FLOAT_DTYPES:
            missing = _missing(values, given)
            if missing is not None and not spec.nullable:
                mark(missing, f"{label}: NaN or null is not allowed (the field is not nullable)")
            # Only floats, or integers into float16, can end as infinity.
            if values.dtype.kind == "f" or target == "float16":
                infinite = np.isinf(to_float(values, numpy_dtype(target)))
                mark(infinite, f"{label}: infinite or out-of-range values are not accepted")
        elif target in _TEXT:
            missing = _missing(values, given)
            if missing is not None and not spec.nullable:
                mark(missing, f"{label}: null is not allowed (the field is not nullable)")
        else:
            # No null fills an integer or bool field. NaN in a float column is a float here,
            # not a null: the data plane refuses it as one (below).
            null = given if given is not None and given.any() else None
            if null is not None:
                mark(null, f"{label}: expected {target}, got null")
            if target != "bool":
                _integer_rows(values, spec, null, mark)
    return Refusals(refused=refused, reasons=reasons)


def _missing(values: np.ndarray, given: np.ndarray | None) -> np.ndarray | None:
    """The rows whose value is missing, or None when none is (the common case: no mask made)."""
    kind = values.dtype.kind
    found: np.ndarray | None = None
    if kind == "f":
        nan = np.isnan(values)
        found = nan if nan.any() else None
    elif kind == "O":
        none = np.equal(values, np.array([None], dtype=object))
        found = none if none.any() else None
    if given is not None and given.any():
        found = given if found is None else found | given
    return found


def _integer_rows(values: np.ndarray, spec: FieldSpec, missing: np.ndarray | None, mark: Any) -> None:
    """Refuse fractions (from an undeclared float column) and values out of the field's range."""
    label = f"column {spec.name!r}"
    dtype = numpy_dtype(spec.dtype)
    info = np.iinfo(dtype)
    present = np.ones(len(values), dtype=bool) if missing is None else ~missing
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            fraction = present & ~(np.isfinite(values) & (values == np.round(values)))
        mark(fraction, f"{label}: expected {spec.dtype}, got {values.dtype.name}")
    elif np.can_cast(values.dtype, dtype, "safe"):
        return
    with np.errstate(invalid="ignore"):
        outside = present & ((values < info.min) | (values > info.max))
    mark(outside, f"{label}: values outside the range of {spec.dtype}")
