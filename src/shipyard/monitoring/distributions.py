"""Reference against current distributions per feature, for the report's plots.

The reference is the version's training-data profile (``shipyard.lineage.profile``,
registered with the version). The window's values are counted the profile's way, vectorised:
numeric columns binned on the reference's own histogram edges (``bin_counts``, values below
and above its range counted apart), categories as their text, booleans as true/false. So the
two histograms compare bin for bin.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from shipyard.lineage.profile import bin_counts

TOP_K = 20
OTHER = "(other)"


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def _numbers(series: pd.Series) -> np.ndarray[Any, Any]:
    """Float64 values, NaN where missing or not a number (booleans and datetimes as numbers)."""
    if series.dtype.kind in "Mm":
        seconds: np.ndarray[Any, Any] = series.astype("int64").to_numpy(dtype=np.float64) / 1e9
        seconds[series.isna().to_numpy()] = np.nan
        return seconds
    values: np.ndarray[Any, Any] = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _numeric(ref: Mapping[str, Any], series: pd.Series) -> dict[str, Any]:
    hist = ref["histogram"]
    edges = [float(e) for e in hist["edges"]]
    x = _numbers(series)
    counts, below, above = bin_counts(x, edges)
    labels = [f"[{a:.3g}, {b:.3g})" for a, b in itertools.pairwise(edges)] or [f"{edges[0]:.3g}"]
    reference = [int(hist["below"]), *(int(c) for c in hist["counts"]), int(hist["above"])]
    current = [below, *counts, above]
    return {
        "kind": "numeric",
        "edges": edges,
        "bins": ["below", *labels, "above"],
        "reference": _shares(reference),
        "current": _shares(current),
        "reference_count": int(ref["count"]),
        "current_count": int((~np.isnan(x)).sum()),
    }


def _text(value: object) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _categorical(ref: Mapping[str, Any], series: pd.Series) -> dict[str, Any]:
    present = series.dropna()
    if ref["type"] == "boolean":
        ref_counts = {"true": int(ref["true"]), "false": int(ref["false"])}
        flags = present[present.map(lambda v: isinstance(v, bool | np.bool_) or v in (0, 1))].astype(bool)
        found = flags.value_counts()
        cur_counts = {"true": int(found.get(True, 0)), "false": int(found.get(False, 0))}
    else:
        ref_counts = {**ref["top"], **({OTHER: ref["other"]} if ref.get("other") else {})}
        raw = present.value_counts()  # count first, then name: one _text per distinct value
        found = raw.groupby([_text(k) for k in raw.index], sort=False).sum().sort_values(ascending=False, kind="stable")
        top = dict(itertools.islice(found.items(), TOP_K))
        shown = set(ref_counts) | set(top)
        rest = int(found[[k not in shown for k in found.index]].sum()) if len(found) else 0
        cur_counts = {str(k): int(v) for k, v in top.items()}
        for key in ref_counts:
            if key in found.index and key not in cur_counts:
                cur_counts[key] = int(found[key])
        if rest:
            cur_counts[OTHER] = cur_counts.get(OTHER, 0) + rest
    categories = list(dict.fromkeys([*ref_counts, *cur_counts]))
    return {
        "kind": "categorical",
        "bins": categories,
        "reference": _shares([float(ref_counts.get(c, 0)) for c in categories]),
        "current": _shares([float(cur_counts.get(c, 0)) for c in categories]),
        "reference_count": int(ref["count"]),
        "current_count": int(sum(cur_counts.values())),
    }


def compare_distributions(reference: Mapping[str, Any], inputs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per column of ``inputs`` that the reference profile knows: bins (numeric ranges with
    ``below``/``above``, or categories) and the reference's and the window's share in each."""
    known = reference.get("columns", {})
    found: dict[str, dict[str, Any]] = {}
    if inputs.empty:
        return found
    for name in inputs.columns:
        ref = known.get(name)
        if not ref:
            continue
        if ref["type"] == "numeric" and ref.get("histogram", {}).get("edges"):
            found[name] = _numeric(ref, inputs[name])
        elif ref["type"] in ("categorical", "boolean"):
            found[name] = _categorical(ref, inputs[name])
    return found
