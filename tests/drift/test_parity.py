"""Shipyard's drift numbers equal Evidently 0.7's on the same frames, within 1e-9.

Evidently runs in its own venv (pandas<3) on the frames written to Parquet; Shipyard runs here on
the same frames read back from those files (so both see identical values and dtypes as each
pandas reads them). Every column's test, score, threshold and verdict, the drifted count and share
and the dataset verdict are compared; the same again from summaries computed per half and merged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from drift_cases import cases
from evidently_peer import evidently_python, run_evidently

from shipyard.monitoring import drift_report
from shipyard.monitoring.drift.summaries import summarize

TOLERANCE = 1e-9

_OPTION_NAMES = {
    "method": "stattest",
    "per_column_method": "per_column_stattest",
    "cat_method": "cat_stattest",
    "num_method": "num_stattest",
    "threshold": "stattest_threshold",
    "per_column_threshold": "per_column_stattest_threshold",
    "drift_share": "drift_share",
}

CASES = cases()


@pytest.fixture(scope="module")
def evidently_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("evidently")
    python, reason = evidently_python(workdir)
    if python is None:
        pytest.skip(f"Evidently 0.7 is not available in its own venv, so there is nothing to compare with: {reason}")
    results = run_evidently(python, workdir, [(ref, cur, options) for _, ref, cur, options in CASES])
    frames = {
        name: (pd.read_parquet(workdir / f"ref{i}.parquet"), pd.read_parquet(workdir / f"cur{i}.parquet"))
        for i, (name, *_) in enumerate(CASES)
    }
    return {"results": dict(zip([name for name, *_ in CASES], results, strict=True)), "frames": frames}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {_OPTION_NAMES[key]: value for key, value in options.items()}


def _close(ours: float, theirs: float | str) -> bool:
    if isinstance(theirs, str):
        return str(ours) == theirs
    if math.isnan(theirs):
        return math.isnan(ours)
    return abs(ours - theirs) <= TOLERANCE or abs(ours - theirs) <= TOLERANCE * abs(theirs)


def _compare(report: Any, expected: dict[str, Any], infinite: set[str]) -> None:
    """``value`` is the public ValueDrift metric; the legacy table behind DriftedColumnsCount keeps
    ±inf in a column that has no NaN (Evidently's two paths differ there), so its score is
    compared only on columns without infinities."""
    assert "error" not in expected, expected.get("error")
    assert list(report.columns) == list(expected["columns"]) or set(report.columns) == set(expected["columns"])
    for name, theirs in expected["columns"].items():
        ours = report.columns[name]
        where = f"column {name!r}"
        assert ours.column_type == theirs["column_type"], where
        assert ours.stattest_title == theirs["stattest_name"], where
        assert ours.threshold == pytest.approx(theirs["threshold"], abs=0), where
        assert _close(ours.score, theirs["value"]), f"{where}: {ours.score!r} != {theirs['value']!r}"
        if name not in infinite:
            assert _close(ours.score, theirs["drift_score"]), where
            assert ours.drift_detected == theirs["drift_detected"], where
    assert report.number_of_drifted_columns == expected["count"] == expected["number_of_drifted_columns"]
    assert report.share_of_drifted_columns == pytest.approx(expected["share"], abs=TOLERANCE)
    assert report.dataset_drift == expected["dataset_drift"]


@pytest.mark.parametrize("name", [name for name, *_ in CASES])
def test_equal_to_evidently(evidently_results: dict[str, Any], name: str) -> None:
    options = next(options for case, _, _, options in CASES if case == name)
    reference, current = evidently_results["frames"][name]
    report = drift_report(reference, current, **_options(options))
    _compare(report, evidently_results["results"][name], _infinite(reference, current))


def _infinite(*frames: pd.DataFrame) -> set[str]:
    return {
        str(name)
        for frame in frames
        for name in frame.columns
        if frame[name].dtype.kind == "f" and bool(np.isinf(frame[name].to_numpy()).any())
    }


@pytest.mark.parametrize("name", ["small-drift", "large-missing", "large-per-column", "ks-asymptotic"])
def test_equal_from_merged_summaries(evidently_results: dict[str, Any], name: str) -> None:
    """Summaries of each half of both frames, merged, give Evidently's numbers on the whole frames."""
    options = next(options for case, _, _, options in CASES if case == name)
    reference, current = evidently_results["frames"][name]
    halves = []
    for frame in (reference, current):
        middle = len(frame) // 3
        halves.append(summarize(frame.iloc[:middle]).merge(summarize(frame.iloc[middle:])))
    report = drift_report(halves[0], halves[1], **_options(options))
    _compare(report, evidently_results["results"][name], _infinite(reference, current))


def test_every_default_test_is_exercised(evidently_results: dict[str, Any]) -> None:
    """The cases reach every one of Evidently's default tests and every chosen one."""
    seen = {
        column["stattest_name"]
        for result in evidently_results["results"].values()
        for column in result.get("columns", {}).values()
    }
    assert seen >= {
        "K-S p_value",
        "chi-square p_value",
        "Z-test p_value",
        "Wasserstein distance (normed)",
        "Jensen-Shannon distance",
        "PSI",
    }


def test_drift_is_found_where_it_was_put(evidently_results: dict[str, Any]) -> None:
    """The synthetic drift is real: drifted columns are found, the undrifted frame passes."""
    reference, current = evidently_results["frames"]["large-drift"]
    report = drift_report(reference, current)
    assert {"shift", "scale", "color", "few_values"} <= set(report.drifted_columns)
    assert "stable" not in report.drifted_columns
    assert report.dataset_drift
    reference, current = evidently_results["frames"]["large-no-drift"]
    assert not drift_report(reference, current).dataset_drift


def test_written_frames_are_what_was_generated(evidently_results: dict[str, Any], tmp_path: Path) -> None:
    """The Parquet round trip keeps the values (so both sides compared the generated data)."""
    name, reference, _, _ = CASES[0]
    read_back, _ = evidently_results["frames"][name]
    pd.testing.assert_frame_equal(
        read_back.astype({c: object for c in read_back.columns if read_back[c].dtype == "str"}),
        reference,
        check_dtype=False,
    )
