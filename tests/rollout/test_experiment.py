"""The A/B report: tests and sample sizes against independent computations, the
fixed-horizon recommendation, Bonferroni, Welch, and degenerate inputs."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from shipyard.rollout.experiment import (
    ArmData,
    ExperimentReport,
    experiment_report,
    mean_sample_size,
    metric_kind,
    rate_sample_size,
)
from shipyard.rollout.spec import Experiment


def experiment(mde: float = 0.02, alpha: float = 0.05, power: float = 0.8) -> Experiment:
    return Experiment.model_validate(
        {
            "sticky_key": {"header": "x-user"},
            "metric": "conversion",
            "min_detectable_effect": mde,
            "alpha": alpha,
            "power": power,
        }
    )


def rate_arm(name: str, units: int, conversions: int, recorded: int | None = None) -> ArmData:
    """``units`` requests, ``conversions`` of them converted; ``recorded`` have an outcome at all."""
    recorded = units if recorded is None else recorded
    return ArmData(name, units, np.r_[np.ones(conversions), np.zeros(recorded - conversions)])


def report(arms: list[ArmData], exp: Experiment) -> ExperimentReport:
    """The report, failing on any warning, and checked to be strict JSON."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = experiment_report(arms, exp)
    json.dumps(out.to_dict(), allow_nan=False)
    return out


def z_pvalue_from_chi2(c1: int, n1: int, c0: int, n0: int) -> tuple[float, float]:
    """Without continuity correction, chi² of the 2x2 table is z² of the pooled z-test."""
    table = np.array([[c1, n1 - c1], [c0, n0 - c0]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    return float(chi2), float(p)


def wilson(count: int, n: int, alpha: float) -> tuple[float, float]:
    z = stats.norm.ppf(1 - alpha / 2)
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def first_count_with_p_between(low: float, high: float, c0: int, n: int) -> int:
    for c1 in range(c0, n):
        _, p = z_pvalue_from_chi2(c1, n, c0, n)
        if low < p < high:
            return c1
    raise AssertionError("no such count")


# -- metric kind --------------------------------------------------------------------------
def test_metric_kind() -> None:
    assert metric_kind([np.array([0.0, 1.0]), np.array([1.0])]) == "rate"
    assert metric_kind([np.array([True, False])]) == "rate"
    assert metric_kind([np.array([0.0, 1.0]), np.array([0.5])]) == "mean"
    assert metric_kind([np.array([]), np.array([])]) is None


# -- rates --------------------------------------------------------------------------------
def test_rate_counts_missing_outcomes_as_zero() -> None:
    out = report([rate_arm("a", 1000, 100, recorded=150), rate_arm("b", 1000, 120, recorded=130)], experiment())
    assert out.kind == "rate"
    assert [arm.value for arm in out.arms] == [pytest.approx(0.1), pytest.approx(0.12)]
    assert [arm.n for arm in out.arms] == [1000, 1000]
    assert any("counts as 0" in note for note in out.notes)


def test_two_proportion_z_test_matches_chi2_and_newcombe() -> None:
    out = report([rate_arm("a", 5000, 500), rate_arm("b", 5000, 580)], experiment())
    comparison = out.comparisons[0]
    chi2, p = z_pvalue_from_chi2(580, 5000, 500, 5000)
    assert comparison.statistic is not None
    assert comparison.statistic**2 == pytest.approx(chi2, rel=1e-9)
    assert comparison.statistic > 0  # arm minus control
    assert comparison.p_value == pytest.approx(p, rel=1e-9)
    assert comparison.difference == pytest.approx(0.016)
    assert comparison.relative_lift == pytest.approx(0.16)
    # Newcombe's hybrid score interval from two Wilson intervals
    l1, u1 = wilson(580, 5000, 0.05)
    l0, u0 = wilson(500, 5000, 0.05)
    p1, p0 = 0.116, 0.1
    assert comparison.ci_low == pytest.approx(0.016 - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), rel=1e-9)
    assert comparison.ci_high == pytest.approx(0.016 + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2), rel=1e-9)
    assert "newcomb" in comparison.ci_method


def test_rate_sample_size_textbook() -> None:
    # p 0.10 vs 0.12, alpha 0.05, power 0.8: about 3,841 per arm
    n = rate_sample_size(0.10, 0.02, 0.05, 0.8)
    assert n is not None
    assert n == pytest.approx(3841, rel=0.01)
    # and 2 * ((z_{1-a/2} + z_{power}) / h)^2 with Cohen's h (the far tail is negligible)
    h = 2 * math.asin(math.sqrt(0.12)) - 2 * math.asin(math.sqrt(0.10))
    assert n == pytest.approx(2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2, abs=1)


def test_rate_sample_size_baseline_rules() -> None:
    # control without requests: baseline 0.5
    out = report([ArmData("a", 0, np.array([])), rate_arm("b", 100, 10)], experiment())
    assert out.needed_per_arm == rate_sample_size(0.5, 0.02, 0.05, 0.8)
    # near 1: the effect is taken downwards
    assert rate_sample_size(0.99, 0.02, 0.05, 0.8) == rate_sample_size(0.97, 0.02, 0.05, 0.8)
    assert rate_sample_size(0.5, 2.0, 0.05, 0.8) is None


def test_mean_sample_size_textbook() -> None:
    # d = 0.5, alpha 0.05, power 0.8: 64 per group (Cohen's tables)
    assert mean_sample_size(2.0, 1.0, 0.05, 0.8) == 64
    assert mean_sample_size(0.0, 1.0, 0.05, 0.8) == 2


# -- the fixed horizon --------------------------------------------------------------------
def test_before_the_horizon_keep_running_whatever_the_p_value() -> None:
    out = report([rate_arm("a", 1000, 50), rate_arm("b", 1000, 150)], experiment())
    comparison = out.comparisons[0]
    assert comparison.p_value is not None
    assert comparison.p_value < 1e-10
    assert out.needed_per_arm is not None
    assert out.needed_per_arm > 1000
    assert (out.decision, out.recommendation) == ("keep_running", "keep running")
    assert "1,000 of" in out.reason
    assert not out.horizon_reached
    assert comparison.valid_for_decision is False
    assert "not valid for a decision yet" in comparison.note
    data = out.to_dict()
    assert data["method"] == "fixed-horizon"
    assert data["method_note"]
    assert data["comparisons"][0]["p_value"] == pytest.approx(comparison.p_value)


def test_the_horizon_is_every_arm() -> None:
    needed = rate_sample_size(0.1, 0.02, 0.05, 0.8)  # the control's observed rate is the baseline
    assert needed is not None
    out = report([rate_arm("a", 4000, 400), rate_arm("b", needed - 1, needed // 5)], experiment())
    assert out.needed_per_arm == needed
    assert [arm.reached for arm in out.arms] == [True, False]
    assert out.recommendation == "keep running"
    assert out.reason.startswith(f"planned sample size not reached (b {needed - 1:,} of {needed:,})")
    out = report([rate_arm("a", 4000, 400), rate_arm("b", needed, needed // 5)], experiment())
    assert out.horizon_reached
    assert out.recommendation == "ship b"


def test_at_the_horizon_ship_keep_or_no_difference() -> None:
    n = 5000
    better = report([rate_arm("a", n, 500), rate_arm("b", n, 600)], experiment())
    assert (better.decision, better.recommendation) == ("ship", "ship b")
    assert "b: +2.00 points" in better.reason
    assert better.comparisons[0].valid_for_decision is True
    worse = report([rate_arm("a", n, 600), rate_arm("b", n, 500)], experiment())
    assert (worse.decision, worse.recommendation) == ("keep_control", "keep a")
    same = report([rate_arm("a", n, 500), rate_arm("b", n, 510)], experiment())
    assert same.decision == "no_difference"
    assert same.recommendation == "no detectable difference at the planned size; keep a"


def test_three_arms_bonferroni() -> None:
    n, c0 = 10000, 1000
    c1 = first_count_with_p_between(0.025, 0.05, c0, n)  # significant at 0.05, not at 0.025
    two = report([rate_arm("a", n, c0), rate_arm("b", n, c1)], experiment())
    assert two.corrected_alpha == 0.05
    assert two.recommendation == "ship b"
    three = report([rate_arm("a", n, c0), rate_arm("b", n, c1), rate_arm("c", n, c0)], experiment())
    assert three.corrected_alpha == pytest.approx(0.025)
    assert three.horizon_reached
    assert three.needed_per_arm == rate_sample_size(0.1, 0.02, 0.025, 0.8)
    assert three.comparisons[0].significant is False
    assert three.comparisons[0].ci_level == pytest.approx(0.975)
    assert three.comparisons[0].ci_low is not None
    assert three.comparisons[0].ci_low < 0  # the 97.5% interval covers 0
    assert three.decision == "no_difference"
    assert any("Bonferroni" in note for note in three.notes)
    # with a clear winner among three, the best significant arm is shipped
    clear = report([rate_arm("a", n, c0), rate_arm("b", n, 1150), rate_arm("c", n, 1250)], experiment())
    assert clear.recommendation == "ship c"


# -- means --------------------------------------------------------------------------------
def test_mean_metric_welch_against_hand_computation() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(10, 2, 300), rng.normal(10.8, 3, 200)
    out = report([ArmData("a", 400, a), ArmData("b", 250, b)], experiment(mde=1.0))
    assert out.kind == "mean"
    assert [arm.n for arm in out.arms] == [300, 200]
    comparison = out.comparisons[0]
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    diff = b.mean() - a.mean()
    t = diff / se
    assert comparison.test == "Welch's t-test"
    assert comparison.statistic == pytest.approx(t, rel=1e-9)
    assert comparison.p_value == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-9)
    half = stats.t.ppf(0.975, df) * se
    assert (comparison.ci_low, comparison.ci_high) == (pytest.approx(diff - half), pytest.approx(diff + half))
    # the planned size uses the pooled within-arm sd
    pooled = math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    assert out.needed_per_arm == mean_sample_size(pooled, 1.0, 0.05, 0.8)
    assert out.horizon_reached
    assert comparison.significant is True
    assert out.recommendation == "ship b"


def test_mean_metric_needs_two_values_per_arm() -> None:
    out = report([ArmData("a", 10, np.array([3.5, 4.5, 2.5])), ArmData("b", 10, np.array([7.5]))], experiment(mde=1.0))
    assert out.recommendation == "keep running"
    assert out.reason == "fewer than 2 outcome values in b (1)"
    assert out.comparisons[0].p_value is None


# -- degenerate inputs --------------------------------------------------------------------
@pytest.mark.parametrize(
    "arms",
    [
        [],
        [ArmData("a", 10, np.array([1.0, 0.0]))],
        [ArmData("a", 0, np.array([])), ArmData("b", 0, np.array([]))],
        [ArmData("a", 100, np.array([])), ArmData("b", 100, np.array([]))],
        [ArmData("a", 0, np.array([])), ArmData("b", 100, np.ones(3))],
        [ArmData("a", 100, np.zeros(100)), ArmData("b", 100, np.zeros(100))],
        [ArmData("a", 100, np.ones(100)), ArmData("b", 100, np.ones(100))],
        [ArmData("a", 50, np.full(50, 2.5)), ArmData("b", 50, np.full(50, 2.5))],
        [ArmData("a", 50, np.full(50, 2.5)), ArmData("b", 50, np.full(50, 3.5))],
        [ArmData("a", 5, np.array([np.nan, 2.5, np.inf])), ArmData("b", -3, np.array([1.5]))],
    ],
)
def test_degenerate_inputs_never_raise(arms: list[ArmData]) -> None:
    out = report(arms, experiment())
    assert out.decision in ("keep_running", "ship", "keep_control", "no_difference")
    assert out.method == "fixed-horizon"


def test_degenerate_reasons() -> None:
    assert report([], experiment()).reason == "an experiment needs at least two arms"
    empty = [ArmData("a", 100, np.array([])), ArmData("b", 100, np.array([]))]
    assert report(empty, experiment()).reason == "no outcome recorded yet in any arm"
    no_units = [ArmData("a", 0, np.array([])), ArmData("b", 100, np.ones(3))]
    assert report(no_units, experiment()).reason == "no requests yet in a"


def test_all_zeros_at_the_horizon_is_no_difference() -> None:
    needed = rate_sample_size(0.0, 0.02, 0.05, 0.8)
    assert needed is not None
    out = report([ArmData("a", needed, np.zeros(needed)), ArmData("b", needed, np.zeros(needed))], experiment())
    assert out.comparisons[0].p_value is None
    assert out.comparisons[0].significant is None
    assert out.decision == "no_difference"


def test_different_constants_are_a_certain_difference() -> None:
    out = report([ArmData("a", 50, np.full(50, 2.5)), ArmData("b", 50, np.full(50, 3.5))], experiment(mde=0.5))
    assert out.needed_per_arm == 2
    assert out.recommendation == "ship b"
