"""CSV text into the types of the model's inputs, a whole column at a time.

A CSV file has no types: each of the signature's columns is read as text and parsed here into
its field's type with Arrow's vectorised casts. When every cell of a column parses (the usual
case) that is one cast; otherwise the cells that do not are found by pattern, their rows set
aside with a reason (they go to the rejects file), and the other cells parsed.

Missing values: an empty cell is missing in any column; ``NA``, ``N/A``, ``NaN``, ``nan``,
``null``, ``NULL`` and ``None`` too in a number or bool column (a text column keeps them as
text: "NA" may be a value there). Whether a missing value is accepted is the signature's
business (``schema.rows``), not this module's. Numbers may carry spaces around them; an
integer field takes whole numbers written as decimals (``3.0``), as the data plane does for
JSON. Booleans are ``true``/``false``/``1``/``0`` in any case.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.schema.rows import Refusals
from shipyard.schema.signature import FLOAT_DTYPES, FieldSpec, Signature

MISSING_TOKENS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(?i:inf|infinity|nan)$"
_INTEGER = r"^[+-]?\d{1,18}$"
_BOOLEANS = ("true", "false", "1", "0")
_EXACT_FLOAT = 2.0**53
"""Whole numbers written as decimals are taken into integer fields up to here (exact in a float)."""


def parse_text_columns(table: pa.Table, signature: Signature) -> tuple[pa.Table, Refusals | None]:
    """``table``'s columns (text, one per input of ``signature``) in their fields' types, and
    the rows with a cell that does not parse (None when every cell does)."""
    n = table.num_rows
    arrays: dict[str, pa.Array] = {}
    refused: np.ndarray | None = None
    reasons: np.ndarray | None = None
    for spec in signature.inputs:
        text = table.column(spec.name).combine_chunks()
        array, unreadable = _parse(text, spec)
        arrays[spec.name] = array
        if unreadable is None:
            continue
        if refused is None or reasons is None:
            refused, reasons = np.zeros(n, dtype=bool), np.full(n, None, dtype=object)
        new = unreadable & ~refused
        reasons[new] = f"column {spec.name!r}: expected {spec.dtype}, got text that is not {_kind_of(spec)}"
        refused |= new
    typed = pa.table(arrays)
    if refused is None or reasons is None:
        return typed, None
    return typed, Refusals(refused=refused, reasons=reasons)


def _kind_of(spec: FieldSpec) -> str:
    if spec.dtype == "bool":
        return "true, false, 1 or 0"
    return "a number" if spec.dtype in FLOAT_DTYPES else "an integer"


def _mask(array: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _parse(text: pa.Array, spec: FieldSpec) -> tuple[pa.Array, np.ndarray | None]:
    target = spec.dtype
    if target in ("string", "bytes"):
        values = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        return (values if target == "string" else pc.cast(values, pa.binary())), None
    missing = pc.is_in(text, value_set=pa.array(MISSING_TOKENS))
    values = pc.if_else(missing, pa.scalar(None, pa.string()), text)
    if target in FLOAT_DTYPES:
        kind = pa.float64()
    elif target == "bool":
        kind = pa.bool_()
    else:
        kind = pa.int64()
    try:
        return pc.cast(values, kind), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # not every value is clean text of the type: trimmed and parsed one by one below
    values = pc.utf8_trim_whitespace(values)
    present = ~_mask(missing)
    if target == "bool":
        ok = pc.is_in(pc.utf8_lower(values), value_set=pa.array(_BOOLEANS))
        parsed = pc.cast(pc.if_else(ok, values, pa.scalar(None, pa.string())), kind)
        return parsed, present & ~_mask(ok)
    is_float = pc.match_substring_regex(values, _FLOAT)
    floats = pc.cast(pc.if_else(is_float, values, pa.scalar(None, pa.string())), pa.float64())
    if target in FLOAT_DTYPES:
        return floats, present & ~_mask(is_float)
    is_integer = pc.match_substring_regex(values, _INTEGER)
    integers = pc.cast(pc.if_else(is_integer, values, pa.scalar(None, pa.string())), kind)
    whole = pc.and_(pc.equal(floats, pc.round(floats)), pc.less_equal(pc.abs(floats), _EXACT_FLOAT))
    from_decimal = pc.and_(pc.invert(is_integer), whole)
    parsed = pc.if_else(is_integer, integers, pc.cast(pc.if_else(from_decimal, floats, None), kind))
    readable = _mask(is_integer) | _mask(from_decimal)
    return parsed, present & ~readable
