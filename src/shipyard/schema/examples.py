"""Input examples: a few sample rows kept with a version, as JSON, to warm a model up and
to show users what a request looks like."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.schema.batch import RawInput, RawInputs
from shipyard.schema.signature import Signature, numpy_dtype
from shipyard.schema.tabular import head, table_array, table_columns


def example_from_sample(signature: Signature, sample: Any, rows: int) -> dict[str, Any] | None:
    """The first ``rows`` rows of ``sample`` as ``{"columns": [...], "data": [[...]]}``
    (``None`` for tensor signatures, whose examples are not kept)."""
    if signature.kind != "columns":
        return None
    names = list(signature.input_names)
    columns = table_columns(head(sample, rows))
    if columns is not None:
        if any(n not in columns for n in names):
            raise InvalidRequest("the sample lacks some signature columns")
        data = [list(row) for row in zip(*(columns[n].tolist() for n in names), strict=True)]
    else:
        data = table_array(sample)[:rows].tolist()
    return {"columns": names, "data": [[_json_value(v) for v in row] for row in data]}


def raw_inputs_from_example(example: Mapping[str, Any], signature: Signature | None = None) -> RawInputs:
    """Decode a stored example into raw inputs, as if a client had sent it. With the
    ``signature``, each column comes back in its own dtype (JSON does not keep int64 apart
    from float64)."""
    columns = tuple(str(c) for c in example["columns"])
    data = example["data"]
    if signature is not None and signature.kind == "columns" and set(columns) == set(signature.input_names):
        specs = {f.name: f for f in signature.inputs}
        items = []
        for i, name in enumerate(columns):
            values = [row[i] for row in data]
            try:
                array = np.asarray(values, dtype=numpy_dtype(specs[name].dtype))
            except (TypeError, ValueError):
                array = np.asarray(values, dtype=object)
            items.append(RawInput(name=name, array=array))
        return RawInputs(tuple(items))
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty((len(data), len(columns)), dtype=object)
        for i, row in enumerate(data):
            array[i, :] = row
    return RawInputs((RawInput(name=None, array=array, column_names=columns),))


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
