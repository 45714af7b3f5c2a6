"""CSV bodies for MLflow ``/invocations``: a header row of column names, then data rows.

CSV carries no types, so each column is parsed as its signature field's dtype when the
signature is known (a zip code stays a string) and inferred otherwise (int, then float,
then true/false, else text). Empty cells are nulls, as pandas reads them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest, SignatureMismatch
from shipyard.schema.batch import RawInput, RawInputs
from shipyard.schema.signature import FLOAT_DTYPES, Signature

_BOOLS = {"true": True, "false": False}


def decode_csv(body: bytes, *, charset: str, signature: Signature | None) -> RawInputs:
    """One named input per CSV column, typed per ``signature`` where it names the column."""
    try:
        text = body.decode(charset)
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"the CSV body is not valid {charset}: {exc.reason} at byte {exc.start}") from exc
    except UnicodeError as exc:
        raise MalformedRequest(f"the CSV body cannot be decoded as {charset}") from exc
    if signature is not None:
        table = _float_table(text, signature)
        if table is not None:
            return RawInputs(items=(table,))
    rows = _rows(text)
    if not rows:
        raise MalformedRequest("the CSV body is empty: it needs a header row of column names")
    header, data = rows[0], rows[1:]
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise MalformedRequest(f"CSV column {twice!r} appears twice in the header")
    width = len(header)
    if data and set(map(len, data)) != {width}:
        number, row = next((i, row) for i, row in enumerate(data, start=1) if len(row) != width)
        raise MalformedRequest(f"CSV data row {number} has {len(row)} fields, the header has {width}")
    dtypes = {}
    if signature is not None and signature.kind == "columns":
        dtypes = {spec.name: spec.dtype for spec in signature.inputs}
    columns: list[Sequence[str]] = list(zip(*data, strict=True)) if data else [() for _ in header]
    items = [
        RawInput(name, _column(values, dtypes.get(name), name)) for name, values in zip(header, columns, strict=True)
    ]
    return RawInputs(items=tuple(items))


def _float_table(text: str, signature: Signature) -> RawInput | None:
    """The body as one float table when every column is a float field of ``signature`` and
    no cell needs the csv module (quotes, lone carriage returns): numpy's C reader parses it.
    None for anything else, or any cell it does not take (an empty one, a null, becomes NaN
    column by column): it takes fewer spellings than ``float()``, never more."""
    if signature.kind != "columns" or not signature.input_dtypes <= FLOAT_DTYPES or '"' in text:
        return None
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    first, _, rest = text.lstrip("\n").partition("\n")
    header = first.split(",")
    if len(header) != len(signature.inputs) or signature.index.keys() != set(header) or not rest.strip("\n"):
        return None
    try:
        table = np.loadtxt(io.StringIO(rest), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if table.shape[1] != len(header):
        return None
    return RawInput(None, table, column_names=tuple(header))


def _rows(text: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text), strict=True) if row]
    except csv.Error as exc:
        raise MalformedRequest(f"the CSV body cannot be parsed: {exc}") from exc


def _column(values: Sequence[str], dtype: str | None, name: str) -> np.ndarray:
    if not values:
        return np.empty(0)
    if dtype is None:
        return _inferred(values)
    if dtype in ("string", "bytes"):
        out = np.empty(len(values), dtype=object)
        out[:] = [(v if dtype == "string" else v.encode("utf-8")) if v else None for v in values]
        return out
    if dtype == "bool":
        try:
            return np.array([_BOOLS[v.strip().lower()] for v in values], dtype=bool)
        except KeyError as exc:
            # Never echo a value: it may be personal data (docs/governance.md, PII).
            row = next((i for i, v in enumerate(values) if v.strip().lower() not in _BOOLS), 0)
            raise SignatureMismatch(f"column {name!r}: expected bool (true/false) in row {row}") from exc
    integer: type[np.integer[Any]] = np.uint64 if dtype.startswith("uint") else np.int64
    parse: Callable[[Sequence[str]], np.ndarray | None] = (
        _floats if dtype in FLOAT_DTYPES else lambda column: _ints(column, integer)
    )
    parsed = parse(values)
    if parsed is None:
        row = next((i for i, v in enumerate(values) if parse([v]) is None), 0)
        raise SignatureMismatch(f"column {name!r}: expected {dtype}, got another value in row {row}")
    return parsed


# Values are parsed one by one with float()/int() rather than through a numpy unicode
# array: that array is as wide as the longest cell for every row, so one huge cell would
# make it far larger than the body.
def _floats(values: Sequence[str]) -> np.ndarray | None:
    try:
        # An empty cell is a null: NaN, which the validator passes only for nullable fields.
        return np.array([float(v) if v else math.nan for v in values], dtype=np.float64)
    except ValueError:
        return None


def _ints(values: Sequence[str], dtype: type[np.integer[Any]] = np.int64) -> np.ndarray | None:
    try:
        return np.array([int(v) for v in values], dtype=dtype)
    except (ValueError, OverflowError):
        return None


def _inferred(values: Sequence[str]) -> np.ndarray:
    for parse in (_ints, _floats):
        parsed = parse(values)
        if parsed is not None:
            return parsed
    lowered = [v.strip().lower() for v in values]
    if all(v in _BOOLS for v in lowered):
        return np.array([_BOOLS[v] for v in lowered], dtype=bool)
    out = np.empty(len(values), dtype=object)
    out[:] = [v if v else None for v in values]
    return out
