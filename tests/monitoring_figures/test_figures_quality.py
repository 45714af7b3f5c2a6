"""Data quality of a window against the version's reference profile and signature."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidRequest
from shipyard.lineage.profile import profile
from shipyard.monitoring.quality import quality_report
from shipyard.schema.signature import FieldSpec, Signature, infer_signature


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 2000
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50.0, 10.0, n),
            "city": rng.choice(["berlin", "lima", "oslo"], n),
            "member": rng.random(n) < 0.3,
        }
    )


@pytest.fixture(scope="module")
def ref_profile(reference: pd.DataFrame) -> dict[str, Any]:
    return profile(reference, np.zeros(len(reference), dtype=int))


def test_the_reference_itself_is_clean(reference: pd.DataFrame, ref_profile: dict[str, Any]) -> None:
    report = quality_report(reference, ref_profile, infer_signature(reference))
    assert report.schema_ok and report.rows == 2000
    summary = report.summary()
    assert summary["max_missing_rate"] == 0.0
    assert summary["max_out_of_range_share"] == 0.0 and summary["max_unseen_share"] == 0.0
    assert summary["type_violations"] == 0 and summary["null_violations"] == 0
    assert set(report.columns) == {"age", "income", "city", "member"}  # the profile's target is not an input
    json.dumps(report.to_dict())


def test_missing_values_out_of_range_and_unseen_categories(
    reference: pd.DataFrame, ref_profile: dict[str, Any]
) -> None:
    lo, hi = float(reference["income"].min()), float(reference["income"].max())
    window = pd.DataFrame(
        {
            "age": [20, 30, 40, 50],
            "income": [lo - 1.0, hi + 1.0, np.nan, np.inf],
            "city": ["berlin", "paris", "paris", None],
            "member": [True, False, True, False],
        }
    )
    sig = infer_signature(reference)
    report = quality_report(window, ref_profile, sig)
    income = report.columns["income"]
    assert income.missing == 1 and income.missing_rate == 0.25 and income.reference_missing_rate == 0.0
    assert income.null_violations == 1  # the signature does not declare it nullable
    assert (income.below, income.above, income.out_of_range) == (1, 2, 3)
    assert income.out_of_range_share == 1.0
    city = report.columns["city"]
    assert city.unseen == 2 and city.unseen_share == pytest.approx(2 / 3)
    assert city.unseen_exact is True and city.unseen_examples == {"paris": 2}
    assert report.columns["age"].out_of_range == 0
    assert not report.schema_ok
    nullable = Signature("columns", tuple(FieldSpec(f.name, f.dtype, nullable=True) for f in sig.inputs))
    assert quality_report(window, ref_profile, nullable).columns["income"].null_violations == 0


def test_unseen_categories_are_approximate_when_the_profile_kept_only_its_top_k() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"code": rng.choice([f"c{i}" for i in range(30)], 3000)})
    prof = profile(reference, top_k=5)
    assert prof["columns"]["code"]["other"] > 0
    kept = sorted(prof["columns"]["code"]["top"])
    dropped = next(f"c{i}" for i in range(30) if f"c{i}" not in kept)
    report = quality_report({"code": [kept[0], dropped, "never"]}, prof)
    code = report.columns["code"]
    assert code.unseen == 2 and code.unseen_exact is False  # an upper bound: `dropped` was in the reference
    assert any("approximate" in note for note in code.notes)
    assert "approximate" in json.dumps(report.to_dict())


def test_type_violations_per_declared_dtype(ref_profile: dict[str, Any], reference: pd.DataFrame) -> None:
    window = {
        "age": [20, 2.5, "thirty", 40.0],
        "income": [1.0, "x", True, 3],
        "city": ["oslo", 7, b"lima", "lima"],
        "member": [True, 1, "yes", None],
    }
    report = quality_report(window, ref_profile, infer_signature(reference))
    by = {name: c for name, c in report.columns.items()}
    assert by["age"].type_violations == 2 and by["age"].type_examples == ("2.5", "'thirty'")
    assert by["income"].type_violations == 2  # a string and a bool are not float64 values
    assert by["city"].type_violations == 2 and by["city"].expected_dtype == "string"
    assert by["member"].type_violations == 2 and by["member"].null_violations == 1
    assert not any(c.dtype_ok for c in report.columns.values())
    # Values that fail the type check are left out of the range check.
    assert by["age"].out_of_range == 0 and by["income"].out_of_range_share is not None
    assert report.summary()["type_violations"] == 8


def test_schema_violations_missing_and_undeclared_columns(reference: pd.DataFrame, ref_profile: dict[str, Any]) -> None:
    window = reference.drop(columns=["city"]).assign(extra=1).head(10)
    report = quality_report(window, ref_profile, infer_signature(reference))
    assert report.missing_columns == ("city",) and report.unexpected_columns == ("extra",)
    assert not report.schema_ok and "city" not in report.columns
    assert report.summary()["missing_columns"] == 1


def test_profile_only_and_signature_only(reference: pd.DataFrame, ref_profile: dict[str, Any]) -> None:
    window = {"age": [20, 99], "income": [50.0, 51.0], "city": ["oslo", "rome"], "member": [True, 0]}
    by_profile = quality_report(window, ref_profile)
    assert by_profile.columns["age"].above == 1 and by_profile.columns["city"].unseen == 1
    assert by_profile.columns["member"].type_violations == 1  # profiled as boolean
    assert by_profile.columns["age"].null_violations == 0  # without a signature nothing is non-nullable
    by_signature = quality_report(window, signature=infer_signature(reference).to_dict())
    age = by_signature.columns["age"]
    assert age.out_of_range is None and "no reference profile" in age.notes[0]


def test_pandas_extension_dtypes_and_datetimes() -> None:
    ref = pd.DataFrame(
        {
            "count": pd.array([1, 2, None, 4], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"]),
        }
    )
    prof = profile(ref)
    window = pd.DataFrame(
        {
            "count": pd.array([None, 9, 3, 2], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-15", "2025-01-01", None, "2023-01-01"]),
        }
    )
    report = quality_report(window, prof)
    count, when = report.columns["count"], report.columns["when"]
    assert count.missing == 1 and count.type_violations == 0 and count.above == 1
    assert when.missing == 1 and when.type_violations == 0 and (when.below, when.above) == (1, 1)


def test_an_empty_window() -> None:
    sig = Signature("columns", (FieldSpec("x", "float64"),))
    report = quality_report({"x": []}, signature=sig)
    assert report.rows == 0 and report.columns["x"].missing_rate == 0.0
    nothing = quality_report({}, signature=sig)
    assert nothing.missing_columns == ("x",) and nothing.rows == 0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: quality_report({"x": [1]}), "reference profile or a signature"),
        (lambda p: quality_report({"x": [1]}, {"rows": 3}), "no columns"),
        (
            lambda p: quality_report({"x": [1]}, signature=Signature("tensors", (FieldSpec("x", "float32", (-1, 3)),))),
            "columns signature",
        ),
        (lambda p: quality_report({"age": [1, 2], "income": [1.0]}, p), "differ in length"),
        (lambda p: quality_report({"x": [1]}, signature={"kind": "columns"}), "invalid signature"),
        (lambda p: quality_report({"age": [1]}, {"columns": {"age": {"type": "vector"}}}), "unknown type"),
    ],
)
def test_bad_input_is_refused(call: Any, match: str, ref_profile: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match=match):
        call(ref_profile)


def test_a_reference_column_without_values_skips_the_range_check() -> None:
    prof = profile({"x": np.array([np.nan, np.nan]), "y": np.array([1.0, 2.0])})
    report = quality_report({"x": [1.0, 5.0], "y": [1.0, 3.0]}, prof)
    assert report.columns["x"].out_of_range is None and "no finite values" in report.columns["x"].notes[0]
    assert report.columns["y"].above == 1
