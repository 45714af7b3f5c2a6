"""``schema.tabular``: one reading of DataFrames, dicts of columns, records and arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidRequest
from shipyard.schema.batch import RawInputs
from shipyard.schema.signature import infer_signature
from shipyard.schema.tabular import head, is_frame, n_rows, table_array, table_columns, take_rows

FRAME = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
TABLES = {
    "frame": FRAME,
    "dict": {"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]},
    "records": [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}, {"a": 3.0, "b": "z"}],
}


def test_only_a_frame_is_a_frame() -> None:
    assert is_frame(FRAME)
    assert not any(is_frame(t) for t in (TABLES["dict"], TABLES["records"], np.zeros((2, 2)), FRAME["a"]))


@pytest.mark.parametrize("kind", list(TABLES), ids=list(TABLES))
def test_named_tables_read_the_same(kind: str) -> None:
    table = TABLES[kind]
    columns = table_columns(table)
    assert columns is not None and list(columns) == ["a", "b"]
    assert columns["a"].tolist() == [1.0, 2.0, 3.0] and columns["b"].tolist() == ["x", "y", "z"]
    assert n_rows(table) == 3
    assert table_columns(head(table, 2))["b"].tolist() == ["x", "y"]  # type: ignore[index]
    assert table_columns(take_rows(table, np.array([0, 2])))["a"].tolist() == [1.0, 3.0]  # type: ignore[index]
    signature = infer_signature(table)
    assert [(f.name, f.dtype) for f in signature.inputs] == [("a", "float64"), ("b", "string")]
    assert signature.frame is (kind == "frame")
    raw = RawInputs.from_table(table)
    assert [item.name for item in raw.items] == ["a", "b"]


def test_arrays_are_unnamed_tables() -> None:
    assert table_columns(np.zeros((2, 3))) is None
    assert table_array([1, 2, 3]).shape == (3, 1)
    assert n_rows([[1, 2], [3, 4]]) == 2
    raw = RawInputs.from_table(np.ones((4, 2)))
    assert len(raw.items) == 1 and raw.items[0].name is None and raw.items[0].array.shape == (4, 2)
    with pytest.raises(InvalidRequest, match="expected a table"):
        table_array(np.zeros((2, 2, 2)))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"a": [[1, 2]]}, "1-D"),
        ({}, "at least one column"),
        ([{"a": 1}, {"b": 2}], "same columns"),
    ],
    ids=["2-d-column", "no-columns", "records-differ"],
)
def test_bad_named_tables_are_refused(table: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        table_columns(table)
