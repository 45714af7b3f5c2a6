"""One analysis step of a canary against the primary: pure functions over merged windows.

:func:`analyse` takes the primary's and the canary's ``served`` windows (and the canary's
``mirror`` window: its requests also computed on the primary), merged over every worker for
the step, and returns a :class:`Verdict`:

1. ``canary.requests < analysis.min_requests`` → **wait** (the gates are still evaluated,
   for the status page, but decide nothing yet);
2. any configured gate that is measurable and fails → **fail**, at once (even before the
   step has baked: a bad canary is rolled back as soon as the evidence is enough);
3. not baked → **wait** ("baking");
4. baked, but a configured gate is not measurable (no latency on the primary, no mirrored
   rows, no outcome yet) → **wait**, naming the gates;
5. otherwise → **pass**.

The gates (each absent from :class:`~shipyard.rollout.spec.Gates` is not checked):

- ``max_error_rate``: ``canary.errors / canary.requests``, fails when strictly above;
- ``max_p99_ratio``: ``max(canary p99, 1 ms) / max(primary p99, 1 ms)``, fails when strictly
  above. Both p99s are floored at 1 ms so that sub-millisecond jitter (a 0.1 ms primary
  against a 0.3 ms canary is a "3x" ratio) never fails a canary; not measurable while the
  primary (or the canary) has no latency recorded;
- ``max_prediction_psi``: :func:`psi` of the canary's prediction counts (current) against
  the primary's (reference), fails when strictly above;
- ``min_agreement``: ``mirror.agreed_rows / mirror.compared_rows``, fails when strictly
  below; not measurable without compared rows;
- ``min_outcome_ratio:<metric>``: ``canary mean / primary mean`` of an outcome metric, fails
  when strictly below; not measurable while either mean is unknown or the primary's is not
  above 0 (a ratio to a zero or negative mean says nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from shipyard.rollout.spec import Analysis
from shipyard.rollout.window import VariantWindow, number_key_value

Outcome = Literal["pass", "fail", "wait"]

LATENCY_FLOOR = 0.001
"""Seconds: p99s below this count as this in the p99 ratio."""
PSI_EMPTY_SHARE = 0.0001
"""A bin's share when it is empty on one side (as Evidently does), so ``ln`` stays finite."""
PSI_MAX_BINS = 10
_LABEL = "label:"
_NUMBER = "num:"


@dataclass(frozen=True)
class GateResult:
    """One gate at one analysis step."""

    name: str
    threshold: float
    value: float | None
    """The measured figure; ``None`` when it is not measurable yet."""
    passed: bool | None
    """``None`` when not measurable."""
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "value": _finite(self.value),
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Verdict:
    """The outcome of one analysis step, with what decided it and the figures behind it."""

    outcome: Outcome
    reason: str
    gates: tuple[GateResult, ...]
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "gates": [gate.to_dict() for gate in self.gates],
            "figures": self.figures,
        }


# -- the verdict --------------------------------------------------------------------------
def analyse(
    *,
    primary: VariantWindow,
    canary: VariantWindow,
    mirror: VariantWindow | None,
    analysis: Analysis,
    baked: bool,
    outcomes: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> Verdict:
    """The verdict of one step (rules in the module docstring).

    ``outcomes`` maps an outcome metric to ``(canary mean, primary mean)`` over the step.
    """
    gates = _gates(primary, canary, mirror, analysis, outcomes or {})
    figures = _figures(primary, canary, mirror, outcomes or {})
    if canary.requests < analysis.min_requests:
        reason = f"too few requests: {canary.requests} of {analysis.min_requests}"
        return Verdict("wait", reason, gates, figures)
    failed = [gate for gate in gates if gate.passed is False]
    if failed:
        reason = f"{failed[0].name} failed: {failed[0].detail}"
        if len(failed) > 1:
            reason += f" (also failing: {', '.join(gate.name for gate in failed[1:])})"
        return Verdict("fail", reason, gates, figures)
    unmeasured = [gate for gate in gates if gate.passed is None]
    if not baked:
        so_far = "every measurable gate passes so far" if gates else "no gates configured"
        return Verdict("wait", f"baking: {so_far}", gates, figures)
    if unmeasured:
        names = ", ".join(f"{gate.name} ({gate.detail})" for gate in unmeasured)
        return Verdict("wait", f"baked, but not measurable yet: {names}", gates, figures)
    reason = f"baked and all {len(gates)} gates pass" if gates else "baked (no gates configured)"
    return Verdict("pass", reason, gates, figures)


def _gates(
    primary: VariantWindow,
    canary: VariantWindow,
    mirror: VariantWindow | None,
    analysis: Analysis,
    outcomes: Mapping[str, tuple[float | None, float | None]],
) -> tuple[GateResult, ...]:
    config = analysis.gates
    out: list[GateResult] = []
    if config.max_error_rate is not None:
        out.append(error_rate_gate(primary, canary, config.max_error_rate))
    if config.max_p99_ratio is not None:
        out.append(p99_ratio_gate(primary, canary, config.max_p99_ratio))
    if config.max_prediction_psi is not None:
        out.append(psi_gate(primary, canary, config.max_prediction_psi))
    if config.min_agreement is not None:
        out.append(agreement_gate(mirror, config.min_agreement))
    for metric, threshold in (config.min_outcome_ratio or {}).items():
        out.append(outcome_gate(metric, outcomes.get(metric, (None, None)), threshold))
    return tuple(out)


# -- the gates ----------------------------------------------------------------------------
def error_rate_gate(primary: VariantWindow, canary: VariantWindow, threshold: float) -> GateResult:
    """``canary.errors / canary.requests``; fails when strictly above ``threshold``."""
    name = "max_error_rate"
    rate = canary.error_rate
    if rate is None:
        return GateResult(name, threshold, None, None, "no canary requests yet")
    versus = "" if primary.error_rate is None else f" vs primary {primary.error_rate:.2%}"
    passed = rate <= threshold
    detail = (
        f"canary error rate {rate:.2%} ({canary.errors} of {canary.requests}){versus}: "
        f"{'at most' if passed else 'above'} {threshold:.2%}"
    )
    return GateResult(name, threshold, rate, passed, detail)


def p99_ratio_gate(primary: VariantWindow, canary: VariantWindow, threshold: float) -> GateResult:
    """``max(canary p99, 1 ms) / max(primary p99, 1 ms)``; fails when strictly above."""
    name = "max_p99_ratio"
    mine, theirs = canary.quantile(0.99), primary.quantile(0.99)
    if theirs is None:
        return GateResult(name, threshold, None, None, "no primary latency recorded yet")
    if mine is None:
        return GateResult(name, threshold, None, None, "no canary latency recorded yet")
    ratio = max(mine, LATENCY_FLOOR) / max(theirs, LATENCY_FLOOR)
    passed = ratio <= threshold
    floored = " (both floored at 1 ms)" if min(mine, theirs) < LATENCY_FLOOR else ""
    detail = (
        f"canary p99 {_ms(mine)} vs primary {_ms(theirs)}{floored}: "
        f"ratio {ratio:.3g} {'<=' if passed else '>'} {threshold:g}"
    )
    return GateResult(name, threshold, ratio, passed, detail)


def psi_gate(primary: VariantWindow, canary: VariantWindow, threshold: float) -> GateResult:
    """:func:`psi` (primary as reference, canary as current); fails when strictly above."""
    name = "max_prediction_psi"
    value = psi(primary.predictions, canary.predictions)
    if value is None:
        why = _psi_unmeasurable(primary.predictions, canary.predictions)
        return GateResult(name, threshold, None, None, why)
    passed = value <= threshold
    detail = f"prediction PSI of the canary against the primary {value:.3g} {'<=' if passed else '>'} {threshold:g}"
    return GateResult(name, threshold, value, passed, detail)


def agreement_gate(mirror: VariantWindow | None, threshold: float) -> GateResult:
    """``mirror.agreed_rows / mirror.compared_rows``; fails when strictly below."""
    name = "min_agreement"
    value = mirror.agreement if mirror is not None else None
    if mirror is None or value is None:
        return GateResult(name, threshold, None, None, "no mirrored rows compared yet")
    passed = value >= threshold
    detail = (
        f"canary agrees with the primary on {value:.2%} of {mirror.compared_rows} mirrored rows: "
        f"{'at least' if passed else 'below'} {threshold:.2%}"
    )
    return GateResult(name, threshold, value, passed, detail)


def outcome_gate(metric: str, means: tuple[float | None, float | None], threshold: float) -> GateResult:
    """``canary mean / primary mean`` of ``metric``; fails when strictly below."""
    name = f"min_outcome_ratio:{metric}"
    mine, theirs = (_finite(v) for v in means)
    if mine is None or theirs is None:
        side = "canary" if mine is None else "primary"
        return GateResult(name, threshold, None, None, f"no {metric} outcome recorded for the {side} yet")
    if theirs <= 0:
        return GateResult(name, threshold, None, None, f"the primary's mean {metric} is {theirs:g}: no ratio")
    ratio = mine / theirs
    passed = ratio >= threshold
    detail = (
        f"canary mean {metric} {mine:.4g} vs primary {theirs:.4g}: "
        f"ratio {ratio:.3g} {'>=' if passed else '<'} {threshold:g}"
    )
    return GateResult(name, threshold, ratio, passed, detail)


# -- PSI ----------------------------------------------------------------------------------
def psi(reference: Mapping[str, int], current: Mapping[str, int]) -> float | None:
    """The population stability index of ``current`` against ``reference`` prediction counts.

    ``PSI = Σ (c_i - r_i) · ln(c_i / r_i)`` over bins, with ``r_i`` and ``c_i`` each side's
    share of its total in bin ``i``, and an empty share replaced by 0.0001 (as Evidently
    does). The bins:

    - ``label:`` keys: one bin per label seen on either side;
    - ``num:`` keys (buckets of a signed log grid): the buckets of both sides ordered by
      :func:`~shipyard.rollout.window.number_key_value` and cut at the reference's deciles,
      so at most 10 bins, each about a tenth of the reference (a bucket holding several
      deciles makes fewer bins). A bucket below the reference's smallest falls in the first
      bin, one above its largest in the last.

    ``None`` when either side is empty, or the keys mix labels and numbers.
    """
    ref = {k: v for k, v in reference.items() if v > 0}
    cur = {k: v for k, v in current.items() if v > 0}
    if not ref or not cur:
        return None
    keys = set(ref) | set(cur)
    if all(k.startswith(_LABEL) for k in keys):
        labels = sorted(keys)
        r = np.array([ref.get(k, 0) for k in labels], dtype=np.float64)
        c = np.array([cur.get(k, 0) for k in labels], dtype=np.float64)
    elif all(k.startswith(_NUMBER) for k in keys):
        r, c = _decile_bins(ref, cur)
    else:
        return None
    return _psi_of_counts(r, c)


def _decile_bins(ref: Mapping[str, int], cur: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' counts over at most 10 bins cut at the reference's deciles.

    With the union of buckets ordered, a cut falls after the bucket where the reference's
    cumulative count first reaches ``k/10`` of its total (``k = 1..9``; exact in integers).
    """
    ordered = sorted(set(ref) | set(cur), key=lambda k: (number_key_value(k), k))
    r = np.array([ref.get(k, 0) for k in ordered], dtype=np.int64)
    c = np.array([cur.get(k, 0) for k in ordered], dtype=np.int64)
    cumulative = np.cumsum(r) * PSI_MAX_BINS
    targets = np.arange(1, PSI_MAX_BINS, dtype=np.int64) * int(r.sum())
    cuts = np.unique(np.searchsorted(cumulative, targets, side="left"))
    bins = np.searchsorted(cuts, np.arange(len(ordered)), side="left")
    size = int(bins.max()) + 1
    return (
        np.bincount(bins, weights=r, minlength=size).astype(np.float64),
        np.bincount(bins, weights=c, minlength=size).astype(np.float64),
    )


def _psi_of_counts(reference: np.ndarray, current: np.ndarray) -> float:
    r = reference / reference.sum()
    c = current / current.sum()
    r = np.where(r == 0, PSI_EMPTY_SHARE, r)
    c = np.where(c == 0, PSI_EMPTY_SHARE, c)
    return float(np.sum((c - r) * np.log(c / r)))


def _psi_unmeasurable(reference: Mapping[str, int], current: Mapping[str, int]) -> str:
    if not any(v > 0 for v in reference.values()):
        return "no primary predictions recorded yet"
    if not any(v > 0 for v in current.values()):
        return "no canary predictions recorded yet"
    return "the primary's and the canary's predictions are not of one kind (labels and numbers)"


# -- figures ------------------------------------------------------------------------------
def _figures(
    primary: VariantWindow,
    canary: VariantWindow,
    mirror: VariantWindow | None,
    outcomes: Mapping[str, tuple[float | None, float | None]],
) -> dict[str, Any]:
    """What a status page shows: per side requests, errors, error rate, p50/p99 (seconds)."""
    return {
        "canary": _side(canary),
        "primary": _side(primary),
        "psi": _finite(psi(primary.predictions, canary.predictions)),
        "agreement": mirror.agreement if mirror is not None else None,
        "compared_rows": mirror.compared_rows if mirror is not None else 0,
        "mirror_dropped": mirror.dropped if mirror is not None else 0,
        "outcomes": {
            metric: {"canary": _finite(mine), "primary": _finite(theirs)}
            for metric, (mine, theirs) in sorted(outcomes.items())
        },
    }


def _side(window: VariantWindow) -> dict[str, Any]:
    return {
        "requests": window.requests,
        "errors": window.errors,
        "error_rate": window.error_rate,
        "p50": window.quantile(0.5),
        "p99": window.quantile(0.99),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _finite(value: float | None) -> float | None:
    """JSON-safe: ``None`` for a missing or non-finite number."""
    return None if value is None or not math.isfinite(value) else float(value)
