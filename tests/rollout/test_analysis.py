"""Canary analysis: each gate at its boundary, the wait rules, PSI against direct formulas."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from shipyard.rollout.analysis import GateResult, Verdict, analyse, psi
from shipyard.rollout.spec import Analysis, Gates
from shipyard.rollout.window import VariantWindow, number_key, number_key_value


def window(
    requests: int, *, seconds: float = 0.01, errors: int = 0, predictions: np.ndarray | None = None
) -> VariantWindow:
    """``requests`` answered in ``seconds`` each (then ``errors`` failed ones, also timed)."""
    out = VariantWindow()
    for i in range(requests):
        row = None if predictions is None else predictions[i % len(predictions) : i % len(predictions) + 1]
        out.add_request(seconds, 1, row)
    for _ in range(errors):
        out.add_error(seconds)
    return out


def mirror(rows: int, agreed: int) -> VariantWindow:
    out = VariantWindow()
    out.add_comparison(rows, agreed, 0.0, 0.0, 0.0)
    return out


def spec(min_requests: int = 100, **gates: object) -> Analysis:
    return Analysis(min_requests=min_requests, gates=Gates.model_validate(gates))


def gate(verdict: Verdict, name: str) -> GateResult:
    return next(g for g in verdict.gates if g.name == name)


def run(
    primary: VariantWindow,
    canary: VariantWindow,
    analysis: Analysis,
    *,
    baked: bool = True,
    mirrored: VariantWindow | None = None,
    outcomes: dict[str, tuple[float | None, float | None]] | None = None,
) -> Verdict:
    return analyse(primary=primary, canary=canary, mirror=mirrored, analysis=analysis, baked=baked, outcomes=outcomes)


# -- wait rules ---------------------------------------------------------------------------
def test_too_few_requests_waits_even_when_a_gate_looks_bad() -> None:
    verdict = run(window(500), window(100, errors=50), spec(min_requests=200, max_error_rate=0.01))
    assert verdict.outcome == "wait"
    assert verdict.reason == "too few requests: 150 of 200"
    assert gate(verdict, "max_error_rate").passed is False  # shown, but decides nothing yet


def test_exactly_min_requests_is_enough() -> None:
    verdict = run(window(500), window(200), spec(min_requests=200, max_error_rate=0.01))
    assert verdict.outcome == "pass"


def test_fail_fast_before_baked() -> None:
    verdict = run(window(500), window(190, errors=10), spec(max_error_rate=0.01), baked=False)
    assert verdict.outcome == "fail"
    assert verdict.reason.startswith("max_error_rate failed: canary error rate 5.00% (10 of 200)")


def test_not_baked_waits_when_all_pass() -> None:
    verdict = run(window(500), window(200), spec(max_error_rate=0.01), baked=False)
    assert verdict.outcome == "wait"
    assert verdict.reason.startswith("baking")


def test_baked_with_unmeasurable_gate_waits_naming_it() -> None:
    verdict = run(window(500), window(200), spec(min_agreement=0.99), mirrored=VariantWindow())
    assert verdict.outcome == "wait"
    assert "min_agreement" in verdict.reason
    assert gate(verdict, "min_agreement").passed is None
    assert gate(verdict, "min_agreement").value is None


def test_no_gates_passes_when_baked() -> None:
    verdict = run(window(10), window(200), spec())
    assert (verdict.outcome, verdict.gates) == ("pass", ())


def test_several_failures_are_all_named() -> None:
    verdict = run(
        window(500, seconds=0.01), window(180, seconds=0.1, errors=20), spec(max_error_rate=0.01, max_p99_ratio=2)
    )
    assert verdict.outcome == "fail"
    assert verdict.reason.startswith("max_error_rate failed")
    assert "also failing: max_p99_ratio" in verdict.reason


# -- error rate ---------------------------------------------------------------------------
@pytest.mark.parametrize(("errors", "outcome"), [(2, "pass"), (3, "fail")])
def test_error_rate_boundary(errors: int, outcome: str) -> None:
    verdict = run(window(1000), window(200 - errors, errors=errors), spec(max_error_rate=0.01))
    assert verdict.outcome == outcome
    assert gate(verdict, "max_error_rate").value == pytest.approx(errors / 200)


def test_error_rate_at_threshold_passes() -> None:
    verdict = run(window(1000), window(98, errors=2), spec(max_error_rate=0.02))
    assert gate(verdict, "max_error_rate").passed is True


# -- p99 ratio ----------------------------------------------------------------------------
def test_p99_ratio_fails_when_above() -> None:
    verdict = run(window(500, seconds=0.01), window(200, seconds=0.02), spec(max_p99_ratio=1.5))
    result = gate(verdict, "max_p99_ratio")
    assert verdict.outcome == "fail"
    assert result.value == pytest.approx(2.0, rel=0.1)  # to within a 10% latency bucket
    assert "ratio" in result.detail
    assert " > 1.5" in result.detail


def test_p99_ratio_boundary_is_inclusive() -> None:
    primary, canary = window(500, seconds=0.01), window(200, seconds=0.015)
    ratio = canary.quantile(0.99) / primary.quantile(0.99)  # type: ignore[operator]
    assert run(primary, canary, spec(max_p99_ratio=ratio)).outcome == "pass"
    assert run(primary, canary, spec(max_p99_ratio=ratio * 0.999)).outcome == "fail"


def test_p99_one_millisecond_floor() -> None:
    # 0.1 ms against 0.5 ms is a 5x ratio, but both count as 1 ms.
    verdict = run(window(500, seconds=0.0001), window(200, seconds=0.0005), spec(max_p99_ratio=1.5))
    result = gate(verdict, "max_p99_ratio")
    assert (verdict.outcome, result.value) == ("pass", 1.0)
    assert "floored at 1 ms" in result.detail
    # a 5 ms canary against a 0.1 ms primary: 5 ms / 1 ms, not 50x
    verdict = run(window(500, seconds=0.0001), window(200, seconds=0.005), spec(max_p99_ratio=1.5))
    assert gate(verdict, "max_p99_ratio").value == pytest.approx(5.0, rel=0.1)
    assert verdict.outcome == "fail"


def test_p99_unmeasurable_without_primary_latency() -> None:
    verdict = run(VariantWindow(), window(200), spec(max_p99_ratio=1.5))
    assert gate(verdict, "max_p99_ratio").passed is None
    assert verdict.outcome == "wait"
    assert "max_p99_ratio" in verdict.reason


# -- PSI ----------------------------------------------------------------------------------
def direct_psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI over shares, empty shares as 0.0001 (Evidently's rule), written independently."""
    r = reference / reference.sum()
    c = current / current.sum()
    r[r == 0] = 0.0001
    c[c == 0] = 0.0001
    return float(((c - r) * np.log(c / r)).sum())


def num_counts(values: list[float], counts: list[int]) -> dict[str, int]:
    return {number_key(v): n for v, n in zip(values, counts, strict=True)}


def test_psi_identical_distributions_is_zero() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(10, 2, 5000)
    primary = window(5000, predictions=values)
    canary = window(5000, predictions=values)
    assert psi(primary.predictions, canary.predictions) == pytest.approx(0.0, abs=1e-12)


def test_psi_ten_reference_buckets_equals_direct_and_scipy() -> None:
    # The reference fills 10 buckets equally: its deciles cut between each of them.
    points = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0]
    reference = num_counts(points, [100] * 10)
    shares = [5, 5, 5, 10, 10, 10, 10, 15, 15, 15]
    current = num_counts(points, shares)
    expected = direct_psi(np.full(10, 100.0), np.array(shares, dtype=float))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)
    # no empty bin: PSI is the symmetric KL divergence
    r, c = np.full(10, 0.1), np.array(shares) / 100
    assert psi(reference, current) == pytest.approx(stats.entropy(c, r) + stats.entropy(r, c), rel=1e-9)


def test_psi_rebins_many_buckets_into_reference_deciles() -> None:
    # 100 reference buckets of 1% each → deciles group them 10 by 10.
    points = [1.0 * 1.2**i for i in range(100)]
    assert len({number_key(p) for p in points}) == 100
    reference = num_counts(points, [10] * 100)
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 50, 100)
    current = num_counts(points, counts.tolist())
    expected = direct_psi(np.full(10, 100.0), counts.reshape(10, 10).sum(axis=1).astype(float))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_current_outside_reference_range_lands_in_edge_bins() -> None:
    points = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0]
    reference = num_counts(points, [100] * 10)
    current = {number_key(0.01): 50, number_key(1000.0): 50}  # below the first, above the last
    expected = direct_psi(np.full(10, 100.0), np.array([50.0] + [0.0] * 8 + [50.0]))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_orders_negative_and_zero_buckets_by_value() -> None:
    points = [-50.0, -5.0, -0.5, 0.0, 0.5, 5.0, 50.0, 500.0, 5000.0, 50000.0]
    keys = [number_key(p) for p in points]
    assert [number_key_value(k) for k in keys] == sorted(number_key_value(k) for k in keys)
    reference = num_counts(points, [100] * 10)
    current = num_counts(points, [0, 0, 0, 0, 0, 100, 200, 300, 200, 200])
    expected = direct_psi(np.full(10, 100.0), np.array([0, 0, 0, 0, 0, 100, 200, 300, 200, 200], dtype=float))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_heavy_bucket_makes_fewer_bins() -> None:
    # one bucket holds 55% of the reference: it swallows several deciles
    reference = num_counts([1.0, 2.0, 3.0], [25, 55, 20])
    current = num_counts([1.0, 2.0, 3.0], [40, 40, 20])
    # cuts after bucket 0 (10%, 20%), bucket 1 (30..80%), bucket 2 (90%): three bins
    expected = direct_psi(np.array([25.0, 55.0, 20.0]), np.array([40.0, 40.0, 20.0]))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_shifted_normal_is_large_and_close_to_sample_psi() -> None:
    rng = np.random.default_rng(11)
    ref_values, cur_values = rng.normal(100, 10, 20000), rng.normal(110, 10, 20000)
    reference = window(20000, predictions=ref_values).predictions
    current = window(20000, predictions=cur_values).predictions
    # The direct computation on the raw values with decile edges (what a 5% grid approximates).
    edges = np.quantile(ref_values, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    r = np.histogram(ref_values, edges)[0].astype(float)
    c = np.histogram(cur_values, edges)[0].astype(float)
    assert psi(reference, current) == pytest.approx(direct_psi(r, c), rel=0.15)
    assert psi(reference, current) > 0.5  # a one-sd shift is a major shift


def test_label_psi() -> None:
    reference = {"label:a": 500, "label:b": 300, "label:c": 200}
    current = {"label:a": 300, "label:b": 300, "label:d": 400}
    expected = direct_psi(np.array([500.0, 300.0, 200.0, 0.0]), np.array([300.0, 300.0, 0.0, 400.0]))
    assert psi(reference, current) == pytest.approx(expected, rel=1e-12)
    assert psi(reference, reference) == 0.0


def test_label_psi_from_recorded_predictions() -> None:
    primary = window(1000, predictions=np.array(["cat"] * 7 + ["dog"] * 3))
    canary = window(1000, predictions=np.array(["cat"] * 5 + ["dog"] * 5))
    expected = direct_psi(np.array([700.0, 300.0]), np.array([500.0, 500.0]))
    assert psi(primary.predictions, canary.predictions) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("reference", "current"),
    [({}, {"label:a": 1}), ({"label:a": 1}, {}), ({"label:a": 1}, {"num:+3": 1}), ({"label:a": 0}, {"label:a": 1})],
)
def test_psi_unmeasurable(reference: dict[str, int], current: dict[str, int]) -> None:
    assert psi(reference, current) is None


def test_psi_gate_boundary() -> None:
    primary = window(1000, predictions=np.array(["cat"] * 7 + ["dog"] * 3))
    canary = window(1000, predictions=np.array(["cat"] * 5 + ["dog"] * 5))
    value = psi(primary.predictions, canary.predictions)
    assert value is not None
    assert run(primary, canary, spec(max_prediction_psi=value)).outcome == "pass"
    failed = run(primary, canary, spec(max_prediction_psi=value * 0.99))
    assert failed.outcome == "fail"
    assert failed.figures["psi"] == pytest.approx(value)


def test_psi_gate_unmeasurable_without_predictions() -> None:
    verdict = run(window(500), window(200), spec(max_prediction_psi=0.2))
    assert gate(verdict, "max_prediction_psi").detail == "no primary predictions recorded yet"
    assert verdict.outcome == "wait"


# -- agreement ----------------------------------------------------------------------------
@pytest.mark.parametrize(("agreed", "outcome"), [(990, "pass"), (989, "fail")])
def test_agreement_boundary(agreed: int, outcome: str) -> None:
    verdict = run(window(500), window(200), spec(min_agreement=0.99), mirrored=mirror(1000, agreed))
    assert verdict.outcome == outcome
    assert gate(verdict, "min_agreement").value == pytest.approx(agreed / 1000)
    assert verdict.figures["compared_rows"] == 1000


def test_agreement_unmeasurable_without_mirror() -> None:
    verdict = run(window(500), window(200), spec(min_agreement=0.99), mirrored=None)
    assert gate(verdict, "min_agreement").passed is None
    assert verdict.outcome == "wait"


# -- outcome ratio ------------------------------------------------------------------------
@pytest.mark.parametrize(("canary_mean", "outcome"), [(0.095, "pass"), (0.0949, "fail")])
def test_outcome_ratio_boundary(canary_mean: float, outcome: str) -> None:
    verdict = run(
        window(500),
        window(200),
        spec(min_outcome_ratio={"conversion": 0.95}),
        outcomes={"conversion": (canary_mean, 0.1)},
    )
    result = gate(verdict, "min_outcome_ratio:conversion")
    assert verdict.outcome == outcome
    assert result.value == pytest.approx(canary_mean / 0.1)


@pytest.mark.parametrize("means", [(None, 0.1), (0.1, None), (0.1, 0.0)])
def test_outcome_ratio_unmeasurable(means: tuple[float | None, float | None]) -> None:
    verdict = run(
        window(500), window(200), spec(min_outcome_ratio={"conversion": 0.95}), outcomes={"conversion": means}
    )
    assert gate(verdict, "min_outcome_ratio:conversion").passed is None
    assert verdict.outcome == "wait"


def test_outcome_ratio_missing_metric_is_unmeasurable() -> None:
    verdict = run(window(500), window(200), spec(min_outcome_ratio={"conversion": 0.95}))
    assert gate(verdict, "min_outcome_ratio:conversion").passed is None


# -- figures and serialisation ------------------------------------------------------------
def test_figures_and_to_dict_are_json() -> None:
    primary = window(900, seconds=0.002, errors=100)
    canary = window(190, seconds=0.004, errors=10)
    verdict = run(
        primary,
        canary,
        spec(max_error_rate=0.1, max_p99_ratio=3, min_agreement=0.5, min_outcome_ratio={"revenue": 0.5}),
        mirrored=mirror(100, 90),
        outcomes={"revenue": (1.0, math.nan)},
    )
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    figures = data["figures"]
    assert figures["canary"]["requests"] == 200
    assert figures["canary"]["error_rate"] == pytest.approx(0.05)
    assert figures["primary"]["error_rate"] == pytest.approx(0.1)
    assert figures["canary"]["p50"] == pytest.approx(0.004, rel=0.1)
    assert figures["primary"]["p99"] == pytest.approx(0.002, rel=0.1)
    assert figures["agreement"] == pytest.approx(0.9)
    assert figures["compared_rows"] == 100
    assert figures["psi"] is None
    assert figures["outcomes"] == {"revenue": {"canary": 1.0, "primary": None}}
    assert [g["name"] for g in data["gates"]] == [
        "max_error_rate",
        "max_p99_ratio",
        "min_agreement",
        "min_outcome_ratio:revenue",
    ]
    assert data["outcome"] == "wait"  # revenue is not measurable
