"""The A/B report over an experiment's arms: pure statistics, no I/O.

The first arm is the control; every other arm is compared with it, two-sided, at a
Bonferroni-corrected ``alpha / (arms - 1)`` (plain ``alpha`` with two arms). Higher is better.

- **rate** metric (every recorded value is 0 or 1, e.g. a conversion): an arm's rate is
  ``sum(values) / units``; a request with no recorded outcome counts as 0. Compared with the
  two-proportion z-test (pooled variance, ``statsmodels`` ``proportions_ztest``); the
  confidence interval of the difference is Newcombe's hybrid Wilson score interval
  (``confint_proportions_2indep(method="newcomb")``). The sample size per arm for an absolute
  ``min_detectable_effect`` ``δ`` is ``NormalIndPower`` with Cohen's
  ``h = 2·asin(√(p + δ)) - 2·asin(√p)``, ``p`` the control's observed rate (0.5, the most
  demanding, before the control has any request; ``p - δ`` when ``p + δ > 1``).
- **mean** metric (any other value): an arm's mean is over the requests that have a value.
  Compared with Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``), with the
  confidence interval of the difference from its ``confidence_interval()``. The sample size
  per arm is ``TTestIndPower`` with Cohen's ``d = δ / s``, ``s`` the pooled within-arm
  standard deviation ``√(Σ (n_i - 1)·s_i² / Σ (n_i - 1))``.

**Fixed horizon**: the p-values are only valid for a decision once every arm has reached
the planned sample size; before that the recommendation is "keep running", whatever they
say (looking early and stopping at the first small p-value inflates false positives).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

from shipyard.rollout.spec import Experiment

Kind = Literal["rate", "mean"]
Decision = Literal["keep_running", "ship", "keep_control", "no_difference"]

METHOD = "fixed-horizon"
METHOD_NOTE = (
    "Fixed horizon: the sample size per arm is planned from min_detectable_effect, alpha and "
    "power, and the p-values decide nothing until every arm has reached it."
)
RATE_NOTE = "rate = sum of outcomes / requests assigned: a request with no recorded outcome counts as 0"
MEAN_NOTE = "mean over the requests that have a recorded outcome"
CI_METHOD_RATE = "newcomb (hybrid Wilson score)"
CI_METHOD_MEAN = "welch"
UNKNOWN_BASELINE = 0.5
"""The control's rate assumed for the sample size before it has any request (the most
demanding: Cohen's h of a fixed difference is smallest around 0.5)."""
MIN_VALUES_FOR_MEANS = 2


@dataclass(frozen=True)
class ArmData:
    """What one arm collected: requests assigned, and the outcome values recorded."""

    name: str
    units: int
    values: np.ndarray


@dataclass(frozen=True)
class ArmSummary:
    name: str
    units: int
    outcomes: int
    """Requests with a recorded (finite) outcome value."""
    n: int
    """The sample size that counts: ``units`` for a rate, ``outcomes`` for a mean."""
    value: float | None
    """The arm's rate or mean; ``None`` without data."""
    sd: float | None
    """The standard deviation of the values (means only)."""
    needed: int | None
    reached: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "units": self.units,
            "outcomes": self.outcomes,
            "n": self.n,
            "value": _finite(self.value),
            "sd": _finite(self.sd),
            "needed": self.needed,
            "reached": self.reached,
        }


@dataclass(frozen=True)
class ArmComparison:
    """One arm against the control (``difference`` is arm minus control)."""

    arm: str
    control: str
    test: str
    statistic: float | None
    p_value: float | None
    difference: float | None
    relative_lift: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    ci_method: str
    significant: bool | None
    """``p_value < corrected alpha``; ``None`` when the test could not be computed."""
    valid_for_decision: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "control": self.control,
            "test": self.test,
            "statistic": _finite(self.statistic),
            "p_value": _finite(self.p_value),
            "difference": _finite(self.difference),
            "relative_lift": _finite(self.relative_lift),
            "ci": [_finite(self.ci_low), _finite(self.ci_high)],
            "ci_level": self.ci_level,
            "ci_method": self.ci_method,
            "significant": self.significant,
            "valid_for_decision": self.valid_for_decision,
            "note": self.note,
        }


@dataclass(frozen=True)
class ExperimentReport:
    metric: str
    kind: Kind | None
    """``None`` while no outcome has been recorded in any arm."""
    control: str | None
    alpha: float
    corrected_alpha: float
    power: float
    min_detectable_effect: float
    needed_per_arm: int | None
    horizon_reached: bool
    arms: tuple[ArmSummary, ...]
    comparisons: tuple[ArmComparison, ...]
    decision: Decision
    recommendation: str
    """``keep running``, ``ship <arm>``, ``keep <control>`` or ``no detectable difference at
    the planned size; keep <control>``."""
    reason: str
    notes: tuple[str, ...]
    method: str = METHOD
    method_note: str = METHOD_NOTE

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "kind": self.kind,
            "method": self.method,
            "method_note": self.method_note,
            "control": self.control,
            "alpha": self.alpha,
            "corrected_alpha": self.corrected_alpha,
            "power": self.power,
            "min_detectable_effect": self.min_detectable_effect,
            "needed_per_arm": self.needed_per_arm,
            "horizon_reached": self.horizon_reached,
            "decision": self.decision,
            "recommendation": self.recommendation,
            "reason": self.reason,
            "notes": list(self.notes),
            "arms": [arm.to_dict() for arm in self.arms],
            "comparisons": [comparison.to_dict() for comparison in self.comparisons],
        }


# -- the report ---------------------------------------------------------------------------
def experiment_report(arms: Sequence[ArmData], experiment: Experiment) -> ExperimentReport:
    """The report over ``arms`` (the first is the control); never raises on thin data."""
    clean = [_clean(arm) for arm in arms]
    alpha = experiment.alpha
    corrected = alpha / max(len(clean) - 1, 1)
    kind = metric_kind([arm.values for arm in clean])
    notes = [f"Bonferroni: alpha {alpha:g} / {len(clean) - 1} comparisons = {corrected:.4g}"] if len(clean) > 2 else []
    if kind is not None:
        notes.append(RATE_NOTE if kind == "rate" else MEAN_NOTE)
    needed = _needed(clean, kind, experiment, corrected)
    summaries = tuple(_summary(arm, kind, needed) for arm in clean)
    horizon = needed is not None and bool(summaries) and all(s.reached for s in summaries)
    control = clean[0] if clean else None
    comparisons = tuple(_compare(arm, control, kind, corrected, horizon) for arm in clean[1:]) if control else ()
    decision, recommendation, reason = _recommend(summaries, comparisons, kind, corrected, horizon)
    return ExperimentReport(
        metric=experiment.metric,
        kind=kind,
        control=control.name if control else None,
        alpha=alpha,
        corrected_alpha=corrected,
        power=experiment.power,
        min_detectable_effect=experiment.min_detectable_effect,
        needed_per_arm=needed,
        horizon_reached=horizon,
        arms=summaries,
        comparisons=comparisons,
        decision=decision,
        recommendation=recommendation,
        reason=reason,
        notes=tuple(notes),
    )


def metric_kind(values: Sequence[np.ndarray]) -> Kind | None:
    """``rate`` when every recorded value is 0 or 1, ``mean`` otherwise, ``None`` without any."""
    recorded = [v for v in values if v.size]
    if not recorded:
        return None
    return "rate" if all(bool(np.isin(v, (0.0, 1.0)).all()) for v in recorded) else "mean"


def _clean(arm: ArmData) -> ArmData:
    """The arm with its values as finite float64 (a NaN or an infinity is no outcome)."""
    values = np.asarray(arm.values, dtype=np.float64).ravel()
    return ArmData(arm.name, max(int(arm.units), 0), values[np.isfinite(values)])


def _n(arm: ArmData, kind: Kind | None) -> int:
    """``units`` for a rate (at least the outcomes, should they outnumber it), outcomes for a mean."""
    return max(arm.units, arm.values.size) if kind == "rate" else int(arm.values.size)


def _summary(arm: ArmData, kind: Kind | None, needed: int | None) -> ArmSummary:
    n = _n(arm, kind)
    value: float | None = None
    sd: float | None = None
    if kind == "rate" and n:
        value = float(arm.values.sum()) / n
    elif kind == "mean" and n:
        value = float(arm.values.mean())
        sd = float(arm.values.std(ddof=1)) if n >= MIN_VALUES_FOR_MEANS else None
    reached = needed is not None and n >= needed
    return ArmSummary(arm.name, arm.units, int(arm.values.size), n, value, sd, needed, reached)


# -- the planned sample size ---------------------------------------------------------------
def _needed(arms: Sequence[ArmData], kind: Kind | None, experiment: Experiment, alpha: float) -> int | None:
    if kind == "rate":
        control = arms[0]
        n = _n(control, kind)
        baseline = float(control.values.sum()) / n if n else UNKNOWN_BASELINE
        return rate_sample_size(baseline, experiment.min_detectable_effect, alpha, experiment.power)
    if kind == "mean":
        sd = pooled_sd([arm.values for arm in arms])
        return None if sd is None else mean_sample_size(sd, experiment.min_detectable_effect, alpha, experiment.power)
    return None


def rate_sample_size(baseline: float, mde: float, alpha: float, power: float) -> int | None:
    """Requests per arm to detect ``baseline`` → ``baseline ± mde`` (two-sided z-test).

    ``NormalIndPower`` with Cohen's ``h = |2·asin(√p2) - 2·asin(√p1)|``; ``p2 = baseline +
    mde``, or ``baseline - mde`` when that would pass 1. ``None`` when neither is a rate.
    """
    target = baseline + mde if baseline + mde <= 1 else baseline - mde
    if not 0 <= target <= 1 or not 0 <= baseline <= 1:
        return None
    h = abs(float(proportion_effectsize(target, baseline)))
    if h == 0:
        return None
    return _solve(NormalIndPower(), h, alpha, power)


def mean_sample_size(sd: float, mde: float, alpha: float, power: float) -> int | None:
    """Values per arm to detect a difference of ``mde`` (two-sided Welch/Student t-test).

    ``TTestIndPower`` with Cohen's ``d = mde / sd``; with ``sd == 0`` (constant values) any
    difference is certain, and the minimum for a t-test (2) is enough. ``None`` when the
    solver finds no size.
    """
    if sd <= 0:
        return MIN_VALUES_FOR_MEANS
    n = _solve(TTestIndPower(), mde / sd, alpha, power)
    return None if n is None else max(n, MIN_VALUES_FOR_MEANS)


def _solve(power_class: NormalIndPower | TTestIndPower, effect: float, alpha: float, power: float) -> int | None:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            n = float(power_class.solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0))
        except (ValueError, ArithmeticError):
            return None
    return math.ceil(n) if math.isfinite(n) and n > 0 else None


def pooled_sd(values: Sequence[np.ndarray]) -> float | None:
    """``√(Σ (n_i - 1)·s_i² / Σ (n_i - 1))`` over the arms with at least two values."""
    usable = [v for v in values if v.size >= MIN_VALUES_FOR_MEANS]
    if not usable:
        return None
    dof = sum(v.size - 1 for v in usable)
    return math.sqrt(sum(float(((v - v.mean()) ** 2).sum()) for v in usable) / dof)


# -- one arm against the control -----------------------------------------------------------
def _compare(arm: ArmData, control: ArmData, kind: Kind | None, alpha: float, horizon: bool) -> ArmComparison:
    if kind == "mean":
        test, ci_method = "Welch's t-test", CI_METHOD_MEAN
        figures = _welch(arm, control, alpha)
    else:
        test, ci_method = "two-proportion z-test", CI_METHOD_RATE
        figures = _ztest(arm, control, alpha) if kind == "rate" else _NO_FIGURES
    statistic, p_value, difference, low, high, base = figures
    significant = None if p_value is None else p_value < alpha
    lift = difference / base if difference is not None and base else None
    if p_value is None:
        note = "not computable yet (no data, or no variation in either arm)"
    elif horizon:
        note = "valid for a decision: every arm has reached the planned sample size"
    else:
        note = "not valid for a decision yet: the planned sample size is not reached (fixed horizon)"
    return ArmComparison(
        arm=arm.name,
        control=control.name,
        test=test,
        statistic=statistic,
        p_value=p_value,
        difference=difference,
        relative_lift=lift,
        ci_low=low,
        ci_high=high,
        ci_level=1 - alpha,
        ci_method=ci_method,
        significant=significant,
        valid_for_decision=horizon and p_value is not None,
        note=note,
    )


_Figures = tuple[float | None, float | None, float | None, float | None, float | None, float | None]
"""statistic, p-value, difference, CI low, CI high, the control's value."""
_NO_FIGURES: _Figures = (None, None, None, None, None, None)


def _ztest(arm: ArmData, control: ArmData, alpha: float) -> _Figures:
    """Pooled two-proportion z-test and Newcombe's interval of ``p_arm - p_control``."""
    n1, n0 = _n(arm, "rate"), _n(control, "rate")
    if not n1 or not n0:
        return _NO_FIGURES
    c1, c0 = float(arm.values.sum()), float(control.values.sum())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        z, p = proportions_ztest(np.array([c1, c0]), np.array([n1, n0]))
        low, high = confint_proportions_2indep(c1, n1, c0, n0, method="newcomb", compare="diff", alpha=alpha)
    return _finite(z), _finite(p), c1 / n1 - c0 / n0, _finite(low), _finite(high), c0 / n0


def _welch(arm: ArmData, control: ArmData, alpha: float) -> _Figures:
    """Welch's t-test and its interval of ``mean_arm - mean_control``."""
    a, b = arm.values, control.values
    if a.size < MIN_VALUES_FOR_MEANS or b.size < MIN_VALUES_FOR_MEANS:
        return _NO_FIGURES
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = stats.ttest_ind(a, b, equal_var=False)
        ci = result.confidence_interval(confidence_level=1 - alpha)
    difference = float(a.mean() - b.mean())
    return (
        _finite(result.statistic),
        _finite(result.pvalue),
        difference,
        _finite(ci.low),
        _finite(ci.high),
        float(b.mean()),
    )


# -- the recommendation --------------------------------------------------------------------
def _recommend(
    arms: Sequence[ArmSummary],
    comparisons: Sequence[ArmComparison],
    kind: Kind | None,
    alpha: float,
    horizon: bool,
) -> tuple[Decision, str, str]:
    """``(decision, recommendation, reason)`` under the fixed-horizon rule."""
    keep = "keep running"
    if len(arms) < 2:
        return "keep_running", keep, "an experiment needs at least two arms"
    missing = _missing(arms, kind)
    if missing:
        return "keep_running", keep, missing
    if not horizon:
        short = [f"{a.name} {a.n:,} of {a.needed:,}" for a in arms if not a.reached and a.needed is not None]
        return "keep_running", keep, f"planned sample size not reached ({', '.join(short)}); p-values are not valid yet"
    control = arms[0].name
    better = [c for c in comparisons if c.significant and (c.difference or 0) > 0]
    if better:
        best = max(better, key=lambda c: c.difference or 0)
        return "ship", f"ship {best.arm}", f"{best.arm}: {_effect(best, kind)}, p={best.p_value:.3g} < {alpha:.3g}"
    worse = [c for c in comparisons if c.significant and (c.difference or 0) < 0]
    if worse:
        why = "; ".join(f"{c.arm}: {_effect(c, kind)}, p={c.p_value:.3g} < {alpha:.3g}" for c in worse)
        return "keep_control", f"keep {control}", why
    why = "; ".join(f"{c.arm}: {_effect(c, kind)}, p={_p(c.p_value)} >= {alpha:.3g}" for c in comparisons)
    return "no_difference", f"no detectable difference at the planned size; keep {control}", why


def _missing(arms: Sequence[ArmSummary], kind: Kind | None) -> str:
    """What is missing before any figure means anything ("" when nothing is)."""
    if kind is None:
        return "no outcome recorded yet in any arm"
    if kind == "rate":
        empty = [a.name for a in arms if a.n == 0]
        return f"no requests yet in {', '.join(empty)}" if empty else ""
    thin = [f"{a.name} ({a.n})" for a in arms if a.n < MIN_VALUES_FOR_MEANS]
    return f"fewer than {MIN_VALUES_FOR_MEANS} outcome values in {', '.join(thin)}" if thin else ""


def _effect(comparison: ArmComparison, kind: Kind | None) -> str:
    level = f"{comparison.ci_level:.1%}".replace(".0%", "%")
    if comparison.difference is None:
        return "no estimate"
    if kind == "rate":
        text = f"{comparison.difference * 100:+.2f} points"
        ci = f"[{_points(comparison.ci_low)}, {_points(comparison.ci_high)}]"
    else:
        text = f"{comparison.difference:+.4g}"
        ci = f"[{_num(comparison.ci_low)}, {_num(comparison.ci_high)}]"
    lift = f" ({comparison.relative_lift:+.1%})" if comparison.relative_lift is not None else ""
    return f"{text}{lift}, {level} CI {ci}"


def _points(value: float | None) -> str:
    return "?" if value is None else f"{value * 100:+.2f}"


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:+.4g}"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _finite(value: Any) -> float | None:
    """JSON-safe: ``None`` for a missing or non-finite number."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
