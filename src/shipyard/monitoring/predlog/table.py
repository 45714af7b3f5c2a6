"""Prediction-log records as an Arrow table: one row per prediction row.

A record (``record.py``) holds one request of ``rows`` rows. Its table has one row per
prediction row, the request's fields repeated, plus ``row`` (0-based) and the columns
``in.<input>`` (the signature's declared inputs) and ``out.<output>`` (vector outputs such
as ``predict_proba`` become ``list<double>``); ``flags`` (guardrail flags, comma-joined),
``fallback`` and ``ticket`` come from the record (null in records older than them). A request that failed (no inputs, no
outputs) is one row with ``row`` 0. ``time`` is Unix seconds (float64), the request's start.

Compacted Parquet and the live segments are read into exactly this shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

INPUT_PREFIX = "in."
OUTPUT_PREFIX = "out."

REQUEST_FIELDS: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "row": pa.int32(),
    "time": pa.float64(),
    "target": pa.string(),
    "model": pa.string(),
    "version": pa.int64(),
    "deployment": pa.string(),
    "variant": pa.string(),
    "revision": pa.int64(),
    "protocol": pa.string(),
    "caller": pa.string(),
    "key": pa.string(),
    "status": pa.int32(),
    "code": pa.string(),
    "latency_ms": pa.float64(),
    "rows": pa.int32(),
    "cpu_ms": pa.float64(),
    "flags": pa.string(),
    "fallback": pa.string(),
    "ticket": pa.string(),
}
"""The fixed columns, in order; input and output columns follow."""

EMPTY_SCHEMA = pa.schema(list(REQUEST_FIELDS.items()))


def records_table(records: Iterable[Mapping[str, Any]], *, sort: bool = False) -> pa.Table:
    """The table of ``records`` (decoded payloads); sorted by (request_id, row) when ``sort``."""
    fixed: dict[str, list[Any]] = {name: [] for name in REQUEST_FIELDS}
    dynamic: dict[str, list[Any]] = {}
    count = 0
    for record in records:
        rows = int(record.get("rows") or 0)
        inputs = record.get("inputs") or {}
        outputs = record.get("outputs") or {}
        n = max(rows, 1)
        for name in REQUEST_FIELDS:
            if name == "row":
                fixed["row"].extend(range(n))
            elif name == "cpu_ms":
                # The request's CPU, shared by its rows, so a column sum is the CPU spent.
                cpu = record.get("cpu_ms")
                fixed["cpu_ms"].extend([None if cpu is None else float(cpu) / n] * n)
            else:
                fixed[name].extend([record.get(name)] * n)
        for prefix, values in ((INPUT_PREFIX, inputs), (OUTPUT_PREFIX, outputs)):
            for column, column_values in values.items():
                cells = dynamic.get(prefix + column)
                if cells is None:
                    cells = dynamic[prefix + column] = [None] * count
                cells.extend(_cells(column_values, n))
        count += n
        for cells in dynamic.values():
            if len(cells) < count:
                cells.extend([None] * (count - len(cells)))
    arrays = [pa.array(fixed[name], type=kind) for name, kind in REQUEST_FIELDS.items()]
    names = list(REQUEST_FIELDS)
    for column in sorted(dynamic, key=lambda c: (not c.startswith(INPUT_PREFIX), c)):
        arrays.append(_array(dynamic[column]))
        names.append(column)
    table = pa.Table.from_arrays(arrays, names=names)
    if sort and table.num_rows:
        table = table.sort_by([("request_id", "ascending"), ("row", "ascending")])
    return table


def payloads_table(payloads: Sequence[bytes], *, sort: bool = False) -> pa.Table:
    """``records_table`` of encoded payloads, parsed by Arrow's JSON reader (C++, no Python
    object per value); records it cannot take as one table (a column whose type changes
    between records, a scalar where a list is expected) go through ``records_table``."""
    if not payloads:
        return EMPTY_SCHEMA.empty_table()
    try:
        table = _arrow_table(payloads)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError, ValueError):
        table = records_table([orjson.loads(p) for p in payloads])
    if sort and table.num_rows:
        table = table.sort_by([("request_id", "ascending"), ("row", "ascending")])
    return table


def _arrow_table(payloads: Sequence[bytes]) -> pa.Table:
    data = b"\n".join(payloads)
    parsed = pa_json.read_json(
        pa.BufferReader(data), read_options=pa_json.ReadOptions(block_size=max(1 << 20, len(data) + 1))
    )
    n = parsed.num_rows
    rows_of = parsed.column("rows").to_numpy(zero_copy_only=False) if "rows" in parsed.column_names else np.zeros(n)
    counts = np.maximum(np.nan_to_num(rows_of.astype(np.float64), nan=0.0).astype(np.int64), 1)
    total = int(counts.sum())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    parent = np.repeat(np.arange(n, dtype=np.int64), counts)
    take = pa.array(parent)
    arrays: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    for name, kind in REQUEST_FIELDS.items():
        if name == "row":
            arrays.append(pa.array(np.arange(total, dtype=np.int64) - starts[parent], type=kind))
        elif name == "cpu_ms" and name in parsed.column_names:
            per_request = parsed.column(name).cast(kind).combine_chunks()
            arrays.append(pc.divide(per_request.take(take), pa.array(counts[parent], type=pa.float64())))
        elif name in parsed.column_names:
            arrays.append(parsed.column(name).take(take).cast(kind))
        else:
            arrays.append(pa.nulls(total, type=kind))
        names.append(name)
    dynamic: dict[str, pa.Array] = {}
    for field_name, prefix in (("inputs", INPUT_PREFIX), ("outputs", OUTPUT_PREFIX)):
        if field_name not in parsed.column_names:
            continue
        column = parsed.column(field_name).combine_chunks()
        if pa.types.is_null(column.type):
            continue
        if not pa.types.is_struct(column.type):
            raise ValueError(f"{field_name} is not an object")
        for child, values in zip(column.type, column.flatten(), strict=True):
            dynamic[prefix + child.name] = _per_row(values, counts, starts, total)
    for column_name in sorted(dynamic, key=lambda c: (not c.startswith(INPUT_PREFIX), c)):
        arrays.append(dynamic[column_name])
        names.append(column_name)
    return pa.Table.from_arrays(arrays, names=names)


def _per_row(values: pa.Array, counts: np.ndarray, starts: np.ndarray, total: int) -> pa.Array:
    """One request's list of ``rows`` values per record → one value per prediction row
    (null where a record has none, e.g. a failed request)."""
    if pa.types.is_null(values.type):
        return pa.nulls(total)
    if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
        raise ValueError("a column's values are not a list")
    flat = pc.list_flatten(values)
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    if np.array_equal(lengths, counts):
        return flat
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    within = np.arange(len(owner), dtype=np.int64) - first[owner]
    keep = within < counts[owner]
    source = np.full(total, -1, dtype=np.int64)
    source[starts[owner[keep]] + within[keep]] = np.nonzero(keep)[0]
    return flat.take(pa.array(source, mask=source < 0))


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Tables of this shape with possibly different input/output columns, as one (missing
    columns are null; int64 and double widen to double; other clashes become strings)."""
    tables = [t for t in tables if t.num_columns]
    if not tables:
        return EMPTY_SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.concat_tables([_stringify_clashes(t, tables) for t in tables], promote_options="permissive")


def columns_of(table: pa.Table, prefix: str) -> list[str]:
    """The names after ``prefix`` of the ``in.`` or ``out.`` columns of ``table``."""
    return [c[len(prefix) :] for c in table.column_names if c.startswith(prefix)]


def _cells(values: Any, n: int) -> list[Any]:
    if not isinstance(values, list):
        return [values] * n
    if len(values) >= n:
        return values[:n]
    return values + [None] * (n - len(values))


def _array(cells: list[Any]) -> pa.Array:
    try:
        return pa.array(cells)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # Mixed kinds in one column (a string here, a number there): keep each as JSON text.
        return pa.array([None if c is None else c if isinstance(c, str) else orjson.dumps(c).decode() for c in cells])


def _stringify_clashes(table: pa.Table, tables: Sequence[pa.Table]) -> pa.Table:
    kinds: dict[str, set[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            if not pa.types.is_null(f.type):
                kinds.setdefault(f.name, set()).add(f.type)
    numeric = {pa.int64(), pa.float64(), pa.int32()}
    for name, found in kinds.items():
        if len(found) > 1 and not found <= numeric and name in table.column_names:
            index = table.column_names.index(name)
            column = table.column(name)
            if not pa.types.is_string(column.type):
                text = [None if v is None else orjson.dumps(v).decode() for v in column.to_pylist()]
                table = table.set_column(index, name, pa.array(text, type=pa.string()))
    return table
