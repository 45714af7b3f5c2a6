"""Aligned counts and Evidently's binning (``get_binned_data``), computed from summaries.

``align`` puts two summaries' counts side by side over the union of their distinct values.
``binned_percents`` is Evidently's ``get_binned_data``: for a numerical column whose *reference*
has more than 20 distinct values, the shares of each sample in the bins of
``np.histogram_bin_edges(concat(reference, current), bins="sturges")``; otherwise (categorical, or
few distinct values) the share of each distinct value. With ``fill_zeroes`` (PSI, not
Jensen-Shannon) each side's zero shares are replaced by that side's smallest non-zero share / 10⁶
when that share is ≤ 0.0001, else by 0.0001.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.monitoring.drift.summaries import ColumnSummary

BINNING_MIN_UNIQUE = 20
"""A numerical reference with more distinct values than this is binned; otherwise values are counted."""


def align(reference: ColumnSummary, current: ColumnSummary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, reference counts, current counts) over the union of both sides' distinct values.

    Numeric keys come out sorted; others in first-seen order (reference first)."""
    if reference.numeric and current.numeric:
        keys = np.union1d(reference.values, current.values)
        ref_counts = np.zeros(keys.shape[0], dtype=np.int64)
        cur_counts = np.zeros(keys.shape[0], dtype=np.int64)
        ref_counts[np.searchsorted(keys, reference.values)] = reference.counts
        cur_counts[np.searchsorted(keys, current.values)] = current.counts
        return keys, ref_counts, cur_counts
    positions: dict[Any, int] = {}
    for value in (*reference.values.tolist(), *current.values.tolist()):
        positions.setdefault(value, len(positions))
    ref_counts = np.zeros(len(positions), dtype=np.int64)
    cur_counts = np.zeros(len(positions), dtype=np.int64)
    ref_counts[[positions[value] for value in reference.values.tolist()]] = reference.counts
    cur_counts[[positions[value] for value in current.values.tolist()]] = current.counts
    keys = np.empty(len(positions), dtype=object)
    keys[:] = list(positions)
    return keys, ref_counts, cur_counts


def union_nunique(reference: ColumnSummary, current: ColumnSummary, *, at_most: int) -> int:
    """Distinct values of both sides together, exactly when it is ≤ ``at_most`` (else some number above)."""
    if reference.nunique > at_most or current.nunique > at_most:
        return max(reference.nunique, current.nunique)
    return int(align(reference, current)[0].shape[0])


def sturges_edges(reference: ColumnSummary, current: ColumnSummary) -> np.ndarray:
    """``np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")``, from summaries.

    The same arithmetic as numpy's: width = (max - min) / (log2(n) + 1) with n the combined size,
    at least 1 for integer data; ceil((last - first) / width) equal bins from first to last edge
    (min - 0.5 and max + 0.5 when min == max)."""
    integer = reference.values.dtype.kind in "iu" and current.values.dtype.kind in "iu"
    kind = np.int64 if integer else np.float64
    low = kind(min(reference.values[0], current.values[0]))
    high = kind(max(reference.values[-1], current.values[-1]))
    size = reference.n + current.n
    first_edge: Any = low
    last_edge: Any = high
    if first_edge == last_edge:
        first_edge = first_edge - 0.5
        last_edge = last_edge + 0.5
    width = _unsigned_subtract(high, low) / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        n_bins = int(np.ceil(_unsigned_subtract(last_edge, first_edge) / width))
    else:
        n_bins = 1
    bin_type = np.result_type(first_edge, last_edge, kind)
    if np.issubdtype(bin_type, np.integer):
        bin_type = np.result_type(bin_type, float)
    return np.linspace(first_edge, last_edge, n_bins + 1, endpoint=True, dtype=bin_type)


def _unsigned_subtract(a: Any, b: Any) -> Any:
    """numpy's ``_unsigned_subtract``: the difference of two integers without overflow."""
    dtype = np.result_type(a, b)
    if np.issubdtype(dtype, np.signedinteger):
        unsigned = np.dtype(f"u{dtype.itemsize}")
        return np.subtract(np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype), casting="unsafe", dtype=unsigned)
    return np.subtract(a, b, dtype=dtype)


def histogram_counts(column: ColumnSummary, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(sample, edges)[0]``: bins closed on the left, the last also on the right."""
    cumulative = np.concatenate(([0], np.cumsum(column.counts)))
    positions = np.concatenate(
        (column.values.searchsorted(edges[:-1], "left"), column.values.searchsorted(edges[-1:], "right"))
    )
    return np.diff(cumulative[positions])


def binned_percents(
    reference: ColumnSummary, current: ColumnSummary, numerical: bool, *, fill_zeroes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: each side's share per bin (or per distinct value)."""
    if numerical and reference.nunique > BINNING_MIN_UNIQUE:
        edges = sturges_edges(reference, current)
        ref_percents = histogram_counts(reference, edges) / reference.n
        cur_percents = histogram_counts(current, edges) / current.n
    else:
        _, ref_counts, cur_counts = align(reference, current)
        ref_percents = ref_counts / reference.n
        cur_percents = cur_counts / current.n
    if fill_zeroes:
        fill_zero_shares(ref_percents)
        fill_zero_shares(cur_percents)
    return ref_percents, cur_percents


def fill_zero_shares(percents: np.ndarray) -> None:
    """In place: zeros become the smallest non-zero share / 10⁶ if that is ≤ 0.0001, else 0.0001."""
    smallest = min(percents[percents != 0])
    np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
