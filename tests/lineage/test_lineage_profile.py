"""profile / merge_profiles / bin_counts: a small reference summary that live data can be binned against."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidRequest
from shipyard.lineage import bin_counts, merge_profiles, profile


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 1000
    income = rng.lognormal(10, 1, n)
    income[rng.choice(n, 50, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": income,
            "city": rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], n),
            "member": rng.random(n) < 0.3,
        }
    )


def test_profile_shape(data: pd.DataFrame) -> None:
    result = profile(data, data["age"] > 50, target_name="senior")

    assert result["rows"] == 1000
    assert result["target"] == "senior"
    assert list(result["columns"]) == ["age", "income", "city", "member", "senior"]
    income = result["columns"]["income"]
    assert income["type"] == "numeric"
    assert (income["count"], income["missing"], income["missing_rate"]) == (950, 50, 0.05)
    present = data["income"].dropna()
    assert income["min"] == present.min() and income["max"] == present.max()
    assert income["mean"] == pytest.approx(present.mean())
    assert income["std"] == pytest.approx(present.std(ddof=0))
    assert list(income["quantiles"]) == ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]
    assert income["quantiles"]["p50"] == pytest.approx(present.median())
    hist = income["histogram"]
    assert len(hist["edges"]) == 21 and len(hist["counts"]) == 20
    assert sum(hist["counts"]) == 950 and hist["below"] == hist["above"] == 0
    # Quantile edges: each bin holds about the same share of the data.
    assert max(hist["counts"]) - min(hist["counts"]) <= 2

    city = result["columns"]["city"]
    assert city["type"] == "categorical"
    assert sum(city["top"].values()) == 1000 and city["other"] == 0
    member = result["columns"]["member"]
    assert member["type"] == "boolean"
    assert member["true"] + member["false"] == 1000
    assert result["columns"]["senior"]["type"] == "boolean"


def test_profile_is_deterministic_and_json(data: pd.DataFrame) -> None:
    first = profile(data)
    assert json.loads(json.dumps(first, allow_nan=False)) == first
    assert profile(data) == first


def test_top_k_and_other() -> None:
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + [None]

    result = profile({"v": values}, top_k=2)["columns"]["v"]

    assert result["top"] == {"a": 5, "b": 4}
    assert result["other"] == 5
    assert result["missing"] == 1


def test_nan_and_infinity() -> None:
    x = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, 3.0])

    result = profile({"x": x}, bins=2)["columns"]["x"]

    assert (result["count"], result["missing"], result["infinite"]) == (5, 1, 2)
    assert (result["min"], result["max"], result["mean"]) == (1.0, 3.0, 2.0)
    assert result["histogram"]["below"] == 1 and result["histogram"]["above"] == 1
    json.dumps(result, allow_nan=False)


def test_all_missing_and_constant_columns() -> None:
    result = profile({"empty": [np.nan, np.nan], "const": [4.0, 4.0], "none": [None, None]})["columns"]

    assert result["empty"]["min"] is None and result["empty"]["histogram"]["edges"] == []
    assert result["empty"]["missing_rate"] == 1.0
    assert result["const"]["histogram"] == {"edges": [4.0], "counts": [2], "below": 0, "above": 0}
    assert result["none"]["type"] == "categorical" and result["none"]["missing"] == 2


def test_bin_counts_rule() -> None:
    edges = [0.0, 1.0, 2.0]
    counts, below, above = bin_counts(np.array([-1, 0, 0.5, 1, 1.5, 2, 2.5, np.nan]), edges)
    assert (counts, below, above) == ([2, 3], 1, 1)


def test_live_data_binned_against_reference_edges(data: pd.DataFrame) -> None:
    reference = profile(data)
    live = data.assign(age=data["age"] + 100)

    result = profile(live, reference=reference)["columns"]["age"]["histogram"]

    assert result["edges"] == reference["columns"]["age"]["histogram"]["edges"]
    assert result["above"] == 1000 and sum(result["counts"]) == 0


def _counts(p: dict[str, Any]) -> dict[str, Any]:
    """Everything in a profile that must add up exactly across a merge."""
    out: dict[str, Any] = {"rows": p["rows"]}
    for name, col in p["columns"].items():
        keep = {k: col[k] for k in ("type", "dtype", "count", "missing", "missing_rate")}
        if col["type"] == "numeric":
            keep.update(histogram=col["histogram"], infinite=col["infinite"], min=col["min"], max=col["max"])
        elif col["type"] == "boolean":
            keep.update(true=col["true"], false=col["false"])
        else:
            keep.update(top=col["top"], other=col["other"])
        out[name] = keep
    return out


def test_merge_of_two_halves_equals_the_whole(data: pd.DataFrame) -> None:
    whole = profile(data)
    first = profile(data.iloc[:400], reference=whole)
    second = profile(data.iloc[400:], reference=whole)

    merged = merge_profiles(first, second)

    assert _counts(merged) == _counts(whole)
    for name in ("age", "income"):
        m, w = merged["columns"][name], whole["columns"][name]
        assert m["mean"] == pytest.approx(w["mean"])
        assert m["std"] == pytest.approx(w["std"])
        assert m["quantiles_exact"] is False
        # Estimated from 20 equal-mass bins: each lands within one bin's share of its rank.
        present = data[name].dropna().to_numpy()
        for key, estimate in m["quantiles"].items():
            rank = (present <= estimate).mean()
            assert rank == pytest.approx(int(key[1:]) / 100, abs=0.05), key
    json.dumps(merged, allow_nan=False)


def test_merge_refuses_different_edges(data: pd.DataFrame) -> None:
    with pytest.raises(InvalidRequest, match="edges"):
        merge_profiles(profile(data.iloc[:500]), profile(data.iloc[500:]))


def test_merge_refuses_different_columns(data: pd.DataFrame) -> None:
    whole = profile(data)
    with pytest.raises(InvalidRequest, match="columns"):
        merge_profiles(whole, profile(data[["age"]], reference=whole))


def test_profile_of_10k_by_20_is_small() -> None:
    rng = np.random.default_rng(0)
    numbers = {f"f{i}": rng.normal(i, 1 + i, 10_000) for i in range(15)}
    words = {f"c{i}": rng.choice([f"value-{j}" for j in range(100)], 10_000) for i in range(5)}

    result = profile({**numbers, **words})

    size = len(json.dumps(result, allow_nan=False))
    assert size < 50_000, size
