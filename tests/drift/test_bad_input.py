"""Every kind of bad input to ``drift_report`` gets a clear InvalidRequest, never a numpy traceback."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidRequest
from shipyard.monitoring import drift_report
from shipyard.monitoring.drift.summaries import summarize

RNG = np.random.default_rng(0)
REFERENCE = pd.DataFrame(
    {"x": RNG.normal(0, 1, 300), "c": pd.Series(RNG.choice(["a", "b", "c"], 300), dtype=object), "n": RNG.random(300)}
)
CURRENT = pd.DataFrame(
    {"x": RNG.normal(1, 1, 200), "c": pd.Series(RNG.choice(["a", "b", "c"], 200), dtype=object), "n": RNG.random(200)}
)


@pytest.mark.parametrize(
    ("reference", "current", "options", "message"),
    [
        (REFERENCE.iloc[:0], CURRENT, {}, "the reference data has no rows"),
        (REFERENCE, CURRENT.iloc[:0], {}, "the current data has no rows"),
        (pd.DataFrame(), CURRENT, {}, "the reference data has no columns"),
        (REFERENCE, pd.DataFrame(index=range(3)), {}, "the current data has no columns"),
        (REFERENCE[["x"]], CURRENT, {}, "columns of the current data missing from the reference: 'c', 'n'"),
        (REFERENCE, CURRENT, {"columns": ["x", "nope"]}, "columns not in the current data: 'nope'"),
        (REFERENCE, CURRENT, {"columns": []}, "columns must name at least one column"),
        (REFERENCE, CURRENT, {"stattest": "kolmogorov"}, "unknown drift test 'kolmogorov'"),
        (REFERENCE, CURRENT, {"per_column_stattest": {"x": "t_test"}}, "unknown drift test 't_test'"),
        (REFERENCE, CURRENT, {"per_column_stattest": {"nope": "ks"}}, "per_column_stattest names columns"),
        (REFERENCE, CURRENT, {"per_column_stattest_threshold": {"zz": 0.1}}, "per_column_stattest_threshold names"),
        (REFERENCE, CURRENT, {"per_column_stattest": {"c": "ks"}}, "'ks' does not apply to categorical column 'c'"),
        (REFERENCE, CURRENT, {"stattest": "chisquare"}, "'chisquare' does not apply to numerical column 'x'"),
        (REFERENCE, CURRENT, {"num_stattest": "z"}, "'z' does not apply to numerical column 'x'"),
        (REFERENCE, CURRENT, {"stattest_threshold": float("nan")}, "a drift threshold must be a finite number"),
        (REFERENCE, CURRENT, {"per_column_stattest_threshold": {"x": "0.1"}}, "a drift threshold must be a finite"),
        (REFERENCE, CURRENT, {"drift_share": 1.5}, "drift_share must be a number from 0 to 1"),
        (REFERENCE, CURRENT, {"mode": "fast"}, "unknown drift mode 'fast'"),
        (REFERENCE.to_numpy(), CURRENT, {}, "must be a pandas DataFrame or a DatasetSummary, not ndarray"),
        (REFERENCE, CURRENT.rename(columns={"n": "x"}), {}, "the current data has duplicate column names"),
    ],
)
def test_bad_input_is_refused_clearly(reference: Any, current: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        drift_report(reference, current, **options)
    assert message in str(raised.value)


def test_a_column_with_no_values_is_refused() -> None:
    current = CURRENT.assign(x=np.nan)
    with pytest.raises(InvalidRequest, match="column 'x' has no values in the current data"):
        drift_report(REFERENCE, current)
    reference = REFERENCE.assign(x=np.inf)
    with pytest.raises(InvalidRequest, match="column 'x' has no values in the reference data"):
        drift_report(reference, CURRENT)


def test_a_numerical_current_against_a_text_reference_is_refused() -> None:
    reference = REFERENCE.assign(x=REFERENCE["x"].round(1).astype(str))
    with pytest.raises(InvalidRequest, match="'x' in the reference data should contain numerical values only"):
        drift_report(reference, CURRENT)


def test_reference_only_columns_and_untested_types_are_listed_as_skipped() -> None:
    reference = REFERENCE.assign(target=1, when=pd.Timestamp("2026-01-01"))
    current = CURRENT.assign(
        when=pd.Timestamp("2026-02-01"), words=[f"free text {i}" for i in range(200)], unsigned=np.uint8(3)
    )
    reference = reference.assign(words=[f"other text {i}" for i in range(300)], unsigned=np.uint8(3))
    report = drift_report(reference, current)
    assert set(report.columns) == {"x", "c", "n"}
    assert report.skipped == {
        "target": "only in the reference",
        "when": "datetime column (only numerical and categorical columns are tested)",
        "words": "text column (only numerical and categorical columns are tested)",
        "unsigned": "unknown column (only numerical and categorical columns are tested)",
    }


def test_summaries_are_accepted_on_either_side_and_a_subset_of_columns() -> None:
    report = drift_report(summarize(REFERENCE), CURRENT, columns=["x"])
    assert list(report.columns) == ["x"] and report["x"].drift_detected
    assert report.to_dict()["columns"]["x"]["stattest"] == "ks"


def test_corrected_mode_types_columns_by_the_reference() -> None:
    # An int column with 11+ distinct values in the reference but few in this window: Evidently
    # (from the current window) calls it categorical; the corrected mode keeps it numerical.
    reference = pd.DataFrame({"k": np.arange(300) % 40})
    current = pd.DataFrame({"k": np.arange(200) % 4})
    assert drift_report(reference, current)["k"].column_type == "cat"
    corrected = drift_report(reference, current, mode="corrected")
    assert corrected["k"].column_type == "num" and corrected.mode == "corrected"


def test_corrected_mode_keeps_tiny_z_test_p_values() -> None:
    reference = pd.DataFrame({"b": [True] * 900 + [False] * 100})
    current = pd.DataFrame({"b": [True] * 100 + [False] * 900})
    assert drift_report(reference, current)["b"].p_value == 0.0
    corrected = drift_report(reference, current, mode="corrected")["b"].p_value
    assert corrected is not None and 0 < corrected < 1e-100
