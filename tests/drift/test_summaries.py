"""Summaries: merging windows equals summarising the whole; the encoding round-trips; the binning,
histograms and distances computed from summaries equal numpy's and scipy's on the raw samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shipyard.errors import InvalidRequest
from shipyard.monitoring import drift_report
from shipyard.monitoring.drift.binning import histogram_counts, sturges_edges
from shipyard.monitoring.drift.stattests import _std, wasserstein_distance
from shipyard.monitoring.drift.summaries import ColumnSummary, DatasetSummary, merge_all, summarize, summarize_column


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "i": rng.integers(-5, 50, n),
            "c": pd.Series(rng.choice(["a", "b", "c"], n), dtype=object),
            "s": pd.Series(rng.choice(["p", "q"], n)).astype("str"),
            "b": rng.random(n) < 0.4,
            "cat": pd.Categorical(rng.choice(["u", "v"], n), categories=["u", "v", "never"]),
        }
    )
    frame.loc[rng.random(n) < 0.1, "x"] = np.nan
    frame.loc[rng.random(n) < 0.02, "x"] = np.inf
    frame.loc[rng.random(n) < 0.1, "c"] = None
    return frame


def _same(a: ColumnSummary, b: ColumnSummary) -> None:
    assert (a.name, a.rows, a.missing, a.infinite, a.n, a.nunique) == (
        b.name,
        b.rows,
        b.missing,
        b.infinite,
        b.n,
        b.nunique,
    )
    assert dict(zip(a.values.tolist(), a.counts.tolist(), strict=True)) == dict(
        zip(b.values.tolist(), b.counts.tolist(), strict=True)
    )
    assert (a.first_type, a.last_type) == (b.first_type, b.last_type)


def test_two_halves_merged_equal_the_whole() -> None:
    frame = _frame(1, 3000)
    whole = summarize(frame)
    merged = summarize(frame.iloc[:1234]).merge(summarize(frame.iloc[1234:]))
    assert merged.rows == whole.rows == 3000
    for name in frame.columns:
        _same(merged.columns[name], whole.columns[name])
    assert whole.columns["x"].numeric and np.all(np.diff(merged.columns["x"].values) > 0)
    assert whole.columns["cat"].nunique == 2  # the unobserved category is not a value


def test_many_windows_merge_in_any_grouping() -> None:
    frame = _frame(2, 2000)
    parts = [summarize(frame.iloc[start : start + 500]) for start in range(0, 2000, 500)]
    left = merge_all(parts)
    right = parts[0].merge(parts[1].merge(parts[2].merge(parts[3])))
    for name in frame.columns:
        _same(left.columns[name], right.columns[name])


def test_drift_from_merged_windows_equals_drift_from_frames() -> None:
    reference, current = _frame(3, 4000), _frame(4, 2500)
    direct = drift_report(reference, current)
    windows = merge_all(summarize(current.iloc[start : start + 700]) for start in range(0, 2500, 700))
    merged = drift_report(summarize(reference), windows)
    assert direct.to_dict() == merged.to_dict()


def test_int_and_float_windows_merge_as_floats() -> None:
    ints = summarize_column("v", pd.Series([1, 2, 2, 3]))
    floats = summarize_column("v", pd.Series([2.0, 2.5, np.nan]))
    merged = ints.merge(floats)
    assert merged.dtype == "float64"
    assert merged.values.tolist() == [1.0, 2.0, 2.5, 3.0] and merged.counts.tolist() == [1, 3, 1, 1]
    assert merged.missing == 1 and merged.rows == 7


def test_encoding_round_trips_without_pickle() -> None:
    summary = summarize(_frame(5, 1500))
    data = summary.to_bytes()
    assert b"pickle" not in data[:64]
    back = DatasetSummary.from_bytes(data)
    assert list(back.columns) == list(summary.columns)
    for name in summary.columns:
        _same(back.columns[name], summary.columns[name])
        assert back.columns[name].dtype == summary.columns[name].dtype
    assert drift_report(back, summary).to_dict() == drift_report(summary, summary).to_dict()


def test_garbage_is_not_a_summary() -> None:
    with pytest.raises(InvalidRequest, match="cannot read the drift summary"):
        DatasetSummary.from_bytes(b"not an npz file")


def test_merging_different_columns_is_refused() -> None:
    a = summarize(pd.DataFrame({"x": [1.0, 2.0]}))
    b = summarize(pd.DataFrame({"y": [1.0, 2.0]}))
    with pytest.raises(InvalidRequest, match="different columns: x, y"):
        a.merge(b)
    numbers = summarize_column("x", pd.Series([1.0, 2.0]))
    words = summarize_column("x", pd.Series(["a", "b"], dtype=object))
    with pytest.raises(InvalidRequest, match="one holds numbers"):
        numbers.merge(words)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        (np.random.default_rng(0).normal(0, 1, 5000), np.random.default_rng(1).normal(0.3, 2, 3000)),
        (np.random.default_rng(2).integers(0, 23, 4000), np.random.default_rng(3).integers(2, 30, 3000)),
        (np.random.default_rng(4).integers(-(2**40), 2**40, 900), np.random.default_rng(5).integers(0, 2**41, 700)),
        (np.full(100, 3.0), np.full(50, 3.0)),
        (np.full(100, 7), np.r_[np.full(50, 7), [8]]),
        (np.random.default_rng(6).lognormal(0, 3, 2000), np.random.default_rng(7).lognormal(1, 3, 2000)),
    ],
)
def test_binning_and_distances_equal_numpy_and_scipy(reference: np.ndarray, current: np.ndarray) -> None:
    ref, cur = summarize_column("v", pd.Series(reference)), summarize_column("v", pd.Series(current))
    expected_edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    edges = sturges_edges(ref, cur)
    assert edges.dtype == expected_edges.dtype
    np.testing.assert_array_equal(edges, expected_edges)
    np.testing.assert_array_equal(histogram_counts(ref, edges), np.histogram(reference, edges)[0])
    np.testing.assert_array_equal(histogram_counts(cur, edges), np.histogram(current, edges)[0])
    expected = stats.wasserstein_distance(reference, current)
    assert wasserstein_distance(ref, cur) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert _std(ref) == pytest.approx(float(np.std(reference)), rel=1e-12, abs=1e-15)
