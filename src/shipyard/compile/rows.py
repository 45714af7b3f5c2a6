"""The rows a compiled form is checked on: real data, the input example, or synthetic rows.

At registration the training data is at hand; later (``compile_version``) the version keeps
only its input example and the training data's reference profile. Without data from the
caller, rows are drawn from the profile: numeric columns from its histogram (a bin by its
count, then uniformly inside it, plus every bin edge and quantile, where thresholds tend to
sit), categorical columns from their top values, booleans by their rate. Every set of rows
passes the same validation as a request, so the check sees what serving would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.schema.batch import Batch, RawInputs
from shipyard.schema.examples import raw_inputs_from_example
from shipyard.schema.signature import Signature, numpy_dtype
from shipyard.schema.tabular import n_rows, take_rows
from shipyard.schema.validate import validate_inputs

DEFAULT_MAX_ROWS = 10_000


def _sample_rows(data: Any, rows: int, seed: int) -> Any:
    """At most ``rows`` rows of ``data``: a fixed-seed random subset when there are more."""
    n = n_rows(data)
    if n <= rows:
        return data
    return take_rows(data, np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False)))


def batch_from_data(signature: Signature, data: Any, *, max_rows: int = DEFAULT_MAX_ROWS, seed: int = 0) -> Batch:
    """Up to ``max_rows`` rows of ``data`` (a table: ``schema.tabular``) as a batch."""
    subset = _sample_rows(data, max_rows, seed)
    return validate_inputs(signature, RawInputs.from_table(subset), max_rows=max(1, max_rows))


def batch_from_example(signature: Signature, example: Mapping[str, Any]) -> Batch:
    raw = raw_inputs_from_example(example, signature)
    return validate_inputs(signature, raw, max_rows=max(1, len(example.get("data", ())) or 1))


def _numeric(column: Mapping[str, Any], rows: int, rng: np.random.Generator) -> np.ndarray:
    hist = column.get("histogram") or {}
    edges = np.asarray(hist.get("edges") or [], dtype=np.float64)
    counts = np.asarray(hist.get("counts") or [], dtype=np.float64)
    points = [e for e in edges.tolist()]
    points += [q for q in (column.get("quantiles") or {}).values() if q is not None]
    if len(edges) >= 2 and counts.sum() > 0:
        bins = rng.choice(len(counts), size=rows, p=counts / counts.sum())
        drawn = rng.uniform(edges[bins], edges[bins + 1])
    elif points:
        drawn = rng.choice(np.asarray(points), size=rows)
    else:
        drawn = np.zeros(rows)
    fixed = np.asarray(points[:rows], dtype=np.float64)
    drawn[: len(fixed)] = fixed
    return drawn


def _categorical(column: Mapping[str, Any], rows: int, rng: np.random.Generator) -> np.ndarray:
    top = column.get("top") or {}
    if not top:
        return np.asarray(["" for _ in range(rows)], dtype=object)
    values = list(top)
    counts = np.asarray([float(c) for c in top.values()])
    return np.asarray(rng.choice(np.asarray(values, dtype=object), size=rows, p=counts / counts.sum()), dtype=object)


def batch_from_profile(signature: Signature, profile: Mapping[str, Any], *, rows: int = 2_000, seed: int = 0) -> Batch:
    """``rows`` synthetic rows shaped like the profiled training data."""
    rng = np.random.default_rng(seed)
    columns = profile.get("columns") or {}
    data: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        column = columns.get(spec.name)
        if column is None:
            raise InvalidRequest(f"the stored profile has no column {spec.name!r}", hint="pass data= to check on")
        kind = column.get("type")
        if kind == "numeric":
            values = _numeric(column, rows, rng)
            if spec.dtype not in ("float64", "float32", "float16"):
                values = np.round(values)
        elif kind == "boolean":
            values = rng.random(rows) < float(column.get("true_rate") or 0.5)
        else:
            values = _categorical(column, rows, rng)
        if spec.dtype == "string":
            data[spec.name] = np.asarray([str(v) for v in values.tolist()], dtype=object)
        else:
            data[spec.name] = values.astype(numpy_dtype(spec.dtype))
    return validate_inputs(signature, RawInputs.from_table(data), max_rows=rows)
