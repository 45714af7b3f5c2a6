"""``schema.rows`` finds, a column at a time, exactly the rows ``validate_inputs`` refuses one by
one, with the data plane's own reason."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.errors import SignatureMismatch
from shipyard.schema.batch import RawInput, RawInputs
from shipyard.schema.rows import column_refusal, refused_rows
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.validate import validate_inputs

SIGNATURE = Signature(
    kind="columns",
    inputs=(
        FieldSpec("f", "float64"),
        FieldSpec("fn", "float64", nullable=True),
        FieldSpec("f32", "float32"),
        FieldSpec("i32", "int32"),
        FieldSpec("u8", "uint8"),
        FieldSpec("i", "int64"),
        FieldSpec("flag", "bool"),
        FieldSpec("s", "string"),
        FieldSpec("sn", "string", nullable=True),
    ),
)
GOOD = {"f": 1.0, "fn": 2.0, "f32": 3.0, "i32": 4, "u8": 5, "i": 6.0, "flag": True, "s": "a", "sn": "b"}
DTYPES = {"f": "f8", "fn": "f8", "f32": "f8", "i32": "i8", "u8": "i8", "i": "f8", "flag": "?", "s": "O", "sn": "O"}
NULL = object()
"""A missing value where the column's numpy type cannot show one (the ``nulls`` mask says so)."""
BAD = {
    "f": [np.nan, np.inf, -np.inf],
    "fn": [np.nan, np.inf],
    "f32": [1e39, np.nan],
    "i32": [2**40, -(2**31) - 1, NULL],
    "u8": [-1, 256, NULL],
    "i": [3.5, np.nan, np.inf, 2.0**70],  # an undeclared float column (JSON-like): whole numbers pass
    "flag": [NULL],
    "s": [None],
    "sn": [None],
}


def _rows() -> list[dict[str, object]]:
    """Every good row with one bad value, then a row with two (the first field's reason wins)."""
    rows = [dict(GOOD)]
    for name, values in BAD.items():
        rows += [GOOD | {name: value} for value in values]
    rows.append(GOOD | {"f": np.nan, "s": None})
    return rows


def _columns(rows: list[dict[str, object]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    columns, nulls = {}, {}
    for name, dtype in DTYPES.items():
        values = [row[name] for row in rows]
        mask = np.array([v is NULL for v in values])
        filler = False if dtype == "?" else 0
        array = np.empty(len(values), dtype=dtype)
        array[:] = [filler if v is NULL else v for v in values]
        columns[name] = array
        if mask.any():
            nulls[name] = mask
    return columns, nulls


def _validate_alone(row: dict[str, object]) -> str | None:
    """What the data plane says of this one row: None (accepted) or its reason."""
    items = []
    for name, dtype in DTYPES.items():
        value = row[name]
        # A null reaches the data plane as a JSON null does: None in an object array.
        array = np.array([None], dtype=object) if value is NULL else np.array([value], dtype=dtype)
        items.append(RawInput(name, array))
    try:
        validate_inputs(SIGNATURE, RawInputs(tuple(items)), max_rows=1)
    except SignatureMismatch as exc:
        return exc.message
    return None


def test_refused_rows_agree_with_the_data_plane_row_by_row() -> None:
    rows = _rows()
    columns, nulls = _columns(rows)
    found = refused_rows(SIGNATURE, columns, nulls, declared=False)
    expected = [_validate_alone(row) for row in rows]
    assert (
        found.count == sum(reason is not None for reason in expected) == len(rows) - 3
    )  # GOOD, and the nulls of the nullable fields
    assert found.reasons.tolist() == expected
    assert found.refused.tolist() == [reason is not None for reason in expected]


def test_good_columns_make_no_mask() -> None:
    columns, _ = _columns([GOOD] * 3)
    found = refused_rows(SIGNATURE, columns, declared=False)
    assert found.count == 0 and found.reasons.tolist() == [None] * 3


@pytest.mark.parametrize(
    ("spec", "dtype", "declared", "refusal"),
    [
        pytest.param(
            FieldSpec("x", "float64"), "U", True, "column 'x': expected float64, got string", id="text-in-float"
        ),
        pytest.param(
            FieldSpec("x", "int64"), "f8", True, "column 'x': expected int64, got float64", id="declared-float"
        ),
        pytest.param(FieldSpec("x", "int64"), "f8", False, None, id="undeclared-float"),
        pytest.param(FieldSpec("x", "bool"), "i8", True, "column 'x': expected bool, got int64", id="int-in-bool"),
        pytest.param(FieldSpec("x", "string"), "i8", True, "column 'x': expected string, got int64", id="int-in-text"),
        pytest.param(FieldSpec("x", "float32"), "u2", True, None, id="int-in-float"),
    ],
)
def test_column_refusal(spec: FieldSpec, dtype: str, declared: bool, refusal: str | None) -> None:
    assert column_refusal(spec, np.dtype(dtype), declared=declared) == refusal
