"""The input sample an upload carries (``sample`` form part): JSON or CSV to a DataFrame.

JSON is ``{"columns": [...], "data": [[...], ...]}`` (pandas' split layout without index);
anything else is read as CSV with a header row. Both must be UTF-8. Every way a sample can
be wrong is the uploader's to fix, so it is a ``MalformedRequest`` (400), never a crash:
rows that do not match the columns, values that are not scalars, duplicate or non-string
column names, bytes that are not text, a CSV pandas cannot read, or no rows at all.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from shipyard.errors import MalformedRequest, PayloadTooLarge

MAX_SAMPLE_BYTES = 16 << 20
"""A sample is a few rows for the signature and a smoke test; the registry keeps at most 5."""
MAX_SAMPLE_COLUMNS = 10_000
_SCALARS = (str, int, float, bool, type(None))


def check_sample_size(size: int) -> None:
    if size > MAX_SAMPLE_BYTES:
        raise PayloadTooLarge(
            f"the sample is {size} bytes; at most {MAX_SAMPLE_BYTES} are allowed",
            hint="a sample needs only a few rows",
        )


def parse_sample(data: bytes) -> Any:
    """The sample ``data`` as a pandas DataFrame (MalformedRequest if it is not one)."""
    check_sample_size(len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRequest(f"the sample is not UTF-8 text (byte {exc.start})", hint="send JSON or CSV") from exc
    if text.lstrip().startswith("{"):
        return _json_sample(text)
    return _csv_sample(text)


def _json_sample(text: str) -> Any:
    import pandas as pd

    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"the sample is not valid JSON: {str(exc)[:120]}") from exc
    if not isinstance(obj, dict) or set(obj) != {"columns", "data"}:
        raise MalformedRequest('a JSON sample must be {"columns": [...], "data": [[...]]}')
    columns, rows = obj["columns"], obj["data"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise MalformedRequest("the sample's 'columns' must be a non-empty array of strings")
    if len(columns) > MAX_SAMPLE_COLUMNS or len(set(columns)) != len(columns):
        raise MalformedRequest(f"the sample's columns must be unique, at most {MAX_SAMPLE_COLUMNS}")
    if not isinstance(rows, list) or not rows:
        raise MalformedRequest("the sample's 'data' must be a non-empty array of rows")
    width = len(columns)
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
            raise MalformedRequest(f"sample row {index} has {got}; there are {width} columns")
        if not all(isinstance(v, _SCALARS) for v in row):
            raise MalformedRequest(f"sample row {index} holds a value that is not a number, string, bool or null")
    try:
        return pd.DataFrame(rows, columns=columns)
    except (ValueError, TypeError, OverflowError) as exc:
        raise MalformedRequest(f"the sample cannot be read as a table: {str(exc)[:120]}") from exc


def _csv_sample(text: str) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, TypeError, OverflowError, csv.Error, pd.errors.ParserError) as exc:
        raise MalformedRequest(
            f"the sample is neither JSON nor CSV: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}",
            hint='send CSV with a header row, or JSON {"columns": [...], "data": [[...]]}',
        ) from exc
    if frame.empty:
        raise MalformedRequest("the sample has no rows", hint="send a header row and at least one data row")
    return frame
