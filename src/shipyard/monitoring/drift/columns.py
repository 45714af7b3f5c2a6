"""Which columns are numerical or categorical: Evidently 0.7's inference, from a summary.

Evidently 0.7 (``evidently.core.datasets.infer_column_type``) decides each column's type from the
*current* frame's pandas dtype, so this does too in the default mode:

- ``float*`` → numerical;
- ``int*`` → categorical with at most 10 distinct values, else numerical (``uint*`` is not ``int*``:
  unknown);
- ``str``/``string`` → text when distinct values exceed half the non-missing values, else categorical;
- ``object`` → the same as strings when the first and last non-missing values are ``str``, else
  unknown (lists: a list column), and unknown when all values are missing;
- ``bool``, ``category`` → categorical; ``datetime*`` → datetime; anything else → unknown.

Only numerical and categorical columns are tested here. Evidently also tests text columns (with a
text classifier, not one of these tests); they and datetime/unknown columns are left out and named
in the report's ``skipped``.
"""

from __future__ import annotations

from typing import Literal

from shipyard.monitoring.drift.summaries import ColumnSummary

ColumnType = Literal["num", "cat", "text", "datetime", "list", "unknown"]
NUM: ColumnType = "num"
CAT: ColumnType = "cat"
INTEGER_CARDINALITY_LIMIT = 10


def infer_column_type(column: ColumnSummary) -> ColumnType:
    dtype = column.dtype
    if dtype.startswith("float"):
        return NUM
    if dtype.startswith("int"):
        return CAT if column.nunique <= INTEGER_CARDINALITY_LIMIT else NUM
    if dtype in ("string", "str"):
        return _text_or_categorical(column)
    if dtype == "object":
        if column.count == 0:
            return "unknown"
        if column.first_type == "str" and column.last_type == "str":
            return _text_or_categorical(column)
        if column.first_type in ("list", "tuple") and column.last_type in ("list", "tuple"):
            return "list"
        return "unknown"
    if dtype in ("bool", "category"):
        return CAT
    if dtype.startswith("datetime"):
        return "datetime"
    return "unknown"


def _text_or_categorical(column: ColumnSummary) -> ColumnType:
    return "text" if column.nunique > column.count * 0.5 else CAT
