"""Reference profiles: a small, JSON-able summary of training data, computed once.

Monitoring compares live traffic against this summary without re-reading the training
data, so numeric columns carry histogram *edges* (chosen from the data's quantiles) that
live values are binned into with ``bin_counts``, the same rule used here. Profiles of
disjoint parts binned against the same edges add up with ``merge_profiles``.

Shape::

    {"version": 1, "rows": n, "bins": 20, "top_k": 20, "target": "target" | None,
     "columns": {name: column profile, ...}}

    numeric      type, dtype, count (present values), missing, missing_rate, infinite,
                 min, max, mean, std (population, finite values), quantiles {p01 ... p99},
                 quantiles_exact, histogram {edges, counts, below, above}
    boolean      type, dtype, count, missing, missing_rate, true, false, true_rate
    categorical  type, dtype, count, missing, missing_rate, top {value: count}, other

Histogram bins are ``[e0, e1), [e1, e2), ... [e(k-1), ek]``; values below ``e0`` or above
``ek`` (and -inf/+inf) are counted in ``below``/``above``. A column with one distinct
value has a single edge and a single bin holding the values equal to it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.lineage.columns import Column, is_missing, table_columns

logger = logging.getLogger(__name__)

PROFILE_VERSION = 1
QUANTILES: dict[str, float] = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}


def _float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _category_key(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def bin_counts(values: np.ndarray[Any, Any], edges: Sequence[float]) -> tuple[list[int], int, int]:
    """(counts per bin, below, above) of ``values`` against ``edges``; NaN is skipped."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if not edges:
        return [], 0, 0
    e = np.asarray(edges, dtype=np.float64)
    below = int((x < e[0]).sum())
    above = int((x > e[-1]).sum())
    inside = x[(x >= e[0]) & (x <= e[-1])]
    if len(e) == 1:
        return [len(inside)], below, above
    index = np.clip(np.searchsorted(e, inside, side="right") - 1, 0, len(e) - 2)
    return [int(c) for c in np.bincount(index, minlength=len(e) - 1)], below, above


def _as_numbers(column: Column) -> np.ndarray[Any, Any] | None:
    """Float64 values (NaN for missing) if the column is numeric, else None."""
    values = column.values
    kind = values.dtype.kind
    if kind in "iuf":
        return values.astype(np.float64)
    if kind in "Mm":
        # Seconds (since the epoch for datetimes): bins in seconds read better than ns.
        seconds = values.astype("datetime64[ns]" if kind == "M" else "timedelta64[ns]").astype(np.int64) / 1e9
        seconds[np.isnat(values)] = np.nan
        return seconds
    if kind == "O":
        present = [v for v in values.tolist() if not is_missing(v)]
        numeric = all(isinstance(v, int | float | np.integer | np.floating) for v in present)
        if present and numeric and not any(isinstance(v, bool | np.bool_) for v in present):
            return np.array([np.nan if is_missing(v) else float(v) for v in values.tolist()], dtype=np.float64)
    return None


def _is_boolean(column: Column) -> bool:
    if column.values.dtype.kind == "b":
        return True
    if column.values.dtype.kind != "O":
        return False
    present = [v for v in column.values.tolist() if not is_missing(v)]
    return bool(present) and all(isinstance(v, bool | np.bool_) for v in present)


def _base(column: Column, kind: str, missing: int) -> dict[str, Any]:
    rows = len(column.values)
    return {
        "type": kind,
        "dtype": column.dtype,
        "count": rows - missing,
        "missing": missing,
        "missing_rate": missing / rows if rows else 0.0,
    }


def _numeric(column: Column, x: np.ndarray[Any, Any], bins: int, edges: Sequence[float] | None) -> dict[str, Any]:
    missing = int(np.isnan(x).sum())
    finite = x[np.isfinite(x)]
    result = _base(column, "numeric", missing)
    result["infinite"] = int(np.isinf(x).sum())
    if len(finite):
        qs = np.quantile(finite, list(QUANTILES.values()))
        result.update(
            min=float(finite.min()),
            max=float(finite.max()),
            mean=float(finite.mean()),
            std=float(finite.std()),
            quantiles={k: float(q) for k, q in zip(QUANTILES, qs, strict=True)},
        )
        if edges is None:
            edges = [float(e) for e in np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))]
    else:
        result.update(min=None, max=None, mean=None, std=None, quantiles=dict.fromkeys(QUANTILES))
        edges = list(edges or [])
    result["quantiles_exact"] = True
    counts, below, above = bin_counts(x, edges)
    result["histogram"] = {"edges": list(edges), "counts": counts, "below": below, "above": above}
    return result


def _boolean(column: Column) -> dict[str, Any]:
    present = [bool(v) for v in column.values.tolist() if not is_missing(v)]
    result = _base(column, "boolean", len(column.values) - len(present))
    true = sum(present)
    result.update(true=true, false=len(present) - true, true_rate=true / len(present) if present else None)
    return result


def _categorical(column: Column, top_k: int) -> dict[str, Any]:
    counter = Counter(_category_key(v) for v in column.values.tolist() if not is_missing(v))
    present = sum(counter.values())
    result = _base(column, "categorical", len(column.values) - present)
    # Ties broken by value so that equal data always gives the same profile.
    top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    result["top"] = dict(top)
    result["other"] = present - sum(c for _, c in top)
    return result


def _reference_edges(reference: Mapping[str, Any] | None, name: str) -> list[float] | None:
    if reference is None:
        return None
    column = reference.get("columns", {}).get(name)
    if not column or column.get("type") != "numeric":
        return None
    return [float(e) for e in column["histogram"]["edges"]]


def profile(
    data: Any,
    target: Any = None,
    *,
    bins: int = 20,
    top_k: int = 20,
    target_name: str = "target",
    reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The reference profile of ``data`` (and ``target``), JSON-able.

    With ``reference`` (another profile), numeric columns are binned against its edges
    instead of edges from this data, so the two profiles compare and merge bin for bin.
    """
    if bins < 1 or top_k < 1:
        raise InvalidRequest("bins and top_k must be at least 1")
    columns = table_columns(data, target, target_name=target_name)
    profiles: dict[str, Any] = {}
    for column in columns:
        if _is_boolean(column):
            profiles[column.name] = _boolean(column)
            continue
        numbers = _as_numbers(column)
        if numbers is not None:
            profiles[column.name] = _numeric(column, numbers, bins, _reference_edges(reference, column.name))
        else:
            profiles[column.name] = _categorical(column, top_k)
    return {
        "version": PROFILE_VERSION,
        "rows": len(columns[0].values),
        "bins": bins,
        "top_k": top_k,
        "target": target_name if target is not None else None,
        "columns": profiles,
    }


def _estimate_quantiles(column: Mapping[str, Any]) -> dict[str, float | None]:
    """Quantiles read off the histogram (linear within a bin); what a merge can still know."""
    hist = column["histogram"]
    edges = [float(e) for e in hist["edges"]]
    if column["min"] is None or not edges:
        return dict.fromkeys(QUANTILES)
    lo, hi = float(column["min"]), float(column["max"])
    below, above = int(hist["below"]), int(hist["above"])
    total = below + sum(hist["counts"]) + above
    counts = [int(c) for c in hist["counts"]]
    if len(edges) == 1:
        positions, cumulative = [edges[0], edges[0]], [below, below + counts[0]]
    else:
        positions = [min(max(e, lo), hi) for e in edges]
        cumulative = [below, *(below + int(c) for c in np.cumsum(counts))]
    result: dict[str, float | None] = {}
    for key, q in QUANTILES.items():
        rank = q * total
        if rank <= below:
            result[key] = lo
        elif rank >= cumulative[-1]:
            result[key] = hi
        else:
            result[key] = float(np.interp(rank, cumulative, positions))
    return result


def _merge_base(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    count, missing = a["count"] + b["count"], a["missing"] + b["missing"]
    rows = count + missing
    return {
        "type": a["type"],
        "dtype": a["dtype"],
        "count": count,
        "missing": missing,
        "missing_rate": missing / rows if rows else 0.0,
    }


def _merge_numeric(name: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    ha, hb = a["histogram"], b["histogram"]
    # A side with no values at all has no edges of its own; it cannot disagree.
    if not ha["edges"] and a["count"] == 0:
        ha = {**hb, "counts": [0] * len(hb["counts"]), "below": 0, "above": 0}
    if not hb["edges"] and b["count"] == 0:
        hb = {**ha, "counts": [0] * len(ha["counts"]), "below": 0, "above": 0}
    if list(ha["edges"]) != list(hb["edges"]):
        raise InvalidRequest(
            f"cannot merge profiles: column {name!r} has different histogram edges",
            hint="profile the second part with reference=<the first profile> so both use the same edges",
        )
    result = _merge_base(a, b)
    result["infinite"] = a["infinite"] + b["infinite"]
    fa, fb = a["count"] - a["infinite"], b["count"] - b["infinite"]
    if fa == 0 or fb == 0:
        source = a if fb == 0 else b
        result.update({k: source[k] for k in ("min", "max", "mean", "std")})
    else:
        n = fa + fb
        delta = b["mean"] - a["mean"]
        m2 = a["std"] ** 2 * fa + b["std"] ** 2 * fb + delta**2 * fa * fb / n
        result.update(
            min=min(a["min"], b["min"]),
            max=max(a["max"], b["max"]),
            mean=a["mean"] + delta * fb / n,
            std=math.sqrt(m2 / n),
        )
    result["histogram"] = {
        "edges": list(ha["edges"]),
        "counts": [x + y for x, y in zip(ha["counts"], hb["counts"], strict=True)],
        "below": ha["below"] + hb["below"],
        "above": ha["above"] + hb["above"],
    }
    result["quantiles"] = _estimate_quantiles(result)
    result["quantiles_exact"] = False
    return result


def _merge_boolean(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    result = _merge_base(a, b)
    true, false = a["true"] + b["true"], a["false"] + b["false"]
    result.update(true=true, false=false, true_rate=true / (true + false) if true + false else None)
    return result


def _merge_categorical(a: Mapping[str, Any], b: Mapping[str, Any], top_k: int) -> dict[str, Any]:
    # Exact when each part's values all fit in its top-k; otherwise a value counted in one
    # part's "other" is under-counted, but the totals stay right.
    result = _merge_base(a, b)
    counter: Counter[str] = Counter(a["top"])
    counter.update(b["top"])
    top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    result["top"] = dict(top)
    result["other"] = result["count"] - sum(c for _, c in top)
    return result


def merge_profiles(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The profile of two disjoint parts of one data set, from their profiles.

    Counts, histograms, min, max, mean and std merge exactly; quantiles are estimated
    from the merged histogram. The columns (names, order, types) must match.
    """
    if a.get("version") != PROFILE_VERSION or b.get("version") != PROFILE_VERSION:
        raise InvalidRequest(f"cannot merge profiles: only version {PROFILE_VERSION} is supported")
    ca, cb = a["columns"], b["columns"]
    if list(ca) != list(cb):
        raise InvalidRequest(f"cannot merge profiles with different columns: {list(ca)} and {list(cb)}")
    top_k = int(a.get("top_k", 20))
    columns: dict[str, Any] = {}
    for name in ca:
        pa, pb = ca[name], cb[name]
        if pa["type"] != pb["type"] or pa["dtype"] != pb["dtype"]:
            raise InvalidRequest(
                f"cannot merge profiles: column {name!r} is {pa['type']}/{pa['dtype']} in one "
                f"and {pb['type']}/{pb['dtype']} in the other"
            )
        if pa["type"] == "numeric":
            columns[name] = _merge_numeric(name, pa, pb)
        elif pa["type"] == "boolean":
            columns[name] = _merge_boolean(pa, pb)
        else:
            columns[name] = _merge_categorical(pa, pb, top_k)
    return {
        "version": PROFILE_VERSION,
        "rows": a["rows"] + b["rows"],
        "bins": a.get("bins"),
        "top_k": top_k,
        "target": a.get("target"),
        "columns": columns,
    }
