"""The drift tests, Evidently 0.7's (``evidently.legacy.calculations.stattests``), on summaries.

Each test takes the reference and current summaries of one column (missing and infinite values
already left out) and returns its score, the test statistic where there is one, the p-value where
the test has one, and whether the score crosses the threshold. Evidently's ``drift_score`` is the
p-value for ``ks``, ``chisquare`` and ``z`` and the distance for the others.

======================  ==========  =========  ============================  =================
name                    types       threshold  score                         drift when
======================  ==========  =========  ============================  =================
``ks``                  num         0.05       p-value of scipy ``ks_2samp``  p ≤ threshold
``chisquare``           cat         0.05       p-value of scipy ``chisquare`` p < threshold
``z``                   cat         0.05       two-sided p of a 2-proportion  p < threshold
``wasserstein``         num         0.1        W1 / max(std(reference), 1e-3) score ≥ threshold
``jensenshannon``       num, cat    0.1        scipy ``jensenshannon``        score ≥ threshold
``psi``                 num, cat    0.1        Σ (r - c)·ln(r / c)            score ≥ threshold
======================  ==========  =========  ============================  =================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

from shipyard.errors import InvalidRequest
from shipyard.monitoring.drift.binning import align, binned_percents, union_nunique
from shipyard.monitoring.drift.columns import CAT, NUM, ColumnType
from shipyard.monitoring.drift.summaries import ColumnSummary

KS_EXACT_MAX_N = 10_000
"""scipy's ``ks_2samp`` computes the exact p-value (method ``auto``) when both samples are at most this big."""

EVIDENTLY = "evidently"
CORRECTED = "corrected"
MODES = (EVIDENTLY, CORRECTED)


@dataclass(frozen=True)
class TestOutcome:
    score: float
    statistic: float | None
    p_value: float | None
    drift_detected: bool


TestFunction = Callable[[ColumnSummary, ColumnSummary, ColumnType, float, str], TestOutcome]


@dataclass(frozen=True)
class StatTest:
    name: str
    title: str
    """Evidently's display name (its report's ``stattest_name``)."""
    column_types: tuple[ColumnType, ...]
    default_threshold: float
    run: TestFunction
    has_p_value: bool


def ks(
    reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType, threshold: float, mode: str
) -> TestOutcome:
    """Two-sample Kolmogorov-Smirnov, two-sided, scipy's ``ks_2samp`` method ``auto``."""
    _require_numbers(reference, current, "ks")
    n1, n2 = reference.n, current.n
    if max(n1, n2) <= KS_EXACT_MAX_N:
        result = stats.ks_2samp(reference.sample(), current.sample())
        statistic, p_value = float(result.statistic), float(result.pvalue)
    else:
        # The statistic from cumulative counts (scipy's searchsorted(..., "right") / n at every
        # value), the p-value as scipy's asymptotic branch: kstwo.sf(D, round(n1·n2 / (n1 + n2))).
        _, ref_counts, cur_counts = align(reference, current)
        differences = np.cumsum(ref_counts) / n1 - np.cumsum(cur_counts) / n2
        min_s = np.clip(-differences[np.argmin(differences)], 0, 1)
        max_s = differences[np.argmax(differences)]
        statistic = float(min_s if min_s > max_s else max_s)
        m, n = sorted([float(n1), float(n2)], reverse=True)
        p_value = float(np.clip(stats.kstwo.sf(statistic, np.round(m * n / (m + n))), 0, 1))
    return TestOutcome(p_value, statistic, p_value, p_value <= threshold)


def chisquare(
    reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType, threshold: float, mode: str
) -> TestOutcome:
    """Pearson's chi-square of the current counts against the reference shares scaled to the current size."""
    _, ref_counts, cur_counts = align(reference, current)
    expected = ref_counts * (current.n / reference.n)
    with np.errstate(divide="ignore", invalid="ignore"):  # a value the reference never had: chi² = inf, p = 0
        result = stats.chisquare(cur_counts, expected)
    p_value = float(result.pvalue)
    return TestOutcome(p_value, float(result.statistic), p_value, p_value < threshold)


def z(
    reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType, threshold: float, mode: str
) -> TestOutcome:
    """Two-proportion Z-test of "not the smallest value" (the smallest of both sides' sorted values)."""
    if reference.nunique == 1 and current.nunique == 1 and reference.values.tolist()[0] == current.values.tolist()[0]:
        return TestOutcome(1.0, None, 1.0, threshold > 1)
    keys, ref_counts, cur_counts = align(reference, current)
    first = min(range(len(keys)), key=lambda index: keys[index]) if keys.dtype == object else 0
    n1, n2 = reference.n, current.n
    p1 = float(n1 - int(ref_counts[first])) / n1
    p2 = float(n2 - int(cur_counts[first])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    statistic = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    if mode == CORRECTED:
        p_value = float(2 * stats.norm.sf(np.abs(statistic)))
    else:
        p_value = float(2 * (1 - stats.norm.cdf(np.abs(statistic))))
    return TestOutcome(p_value, float(statistic), p_value, p_value < threshold)


def wasserstein(
    reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType, threshold: float, mode: str
) -> TestOutcome:
    """First Wasserstein distance (scipy's formula) over the reference's std (floor 0.001)."""
    _require_numbers(reference, current, "wasserstein")
    norm = max(_std(reference), 0.001)
    distance_value = wasserstein_distance(reference, current)
    score = distance_value / norm
    return TestOutcome(score, distance_value, None, score >= threshold)


def jensenshannon(
    reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType, threshold: float, mode: str
) -> TestOutcome:
    """scipy's Jensen-Shannon distance (natural log) of the binned shares, zeros left as they are."""
    ref_percents, cur_percents = binned_percents(reference, current, column_type == NUM, fill_zeroes=False)
    score = float(distance.jensenshannon(ref_percents, cur_percents))
    return TestOutcome(score, None, None, score >= threshold)


def psi(
    reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType, threshold: float, mode: str
) -> TestOutcome:
    """Population stability index of the binned shares, zeros filled."""
    ref_percents, cur_percents = binned_percents(reference, current, column_type == NUM, fill_zeroes=True)
    score = float(np.sum((ref_percents - cur_percents) * np.log(ref_percents / cur_percents)))
    return TestOutcome(score, None, None, score >= threshold)


def _std(column: ColumnSummary) -> float:
    """``np.std`` of the sample (population std, ddof 0), from the counts."""
    values = column.values.astype(np.float64, copy=False)
    n = column.n
    mean = float(np.dot(values, column.counts)) / n
    deviations = values - mean
    return math.sqrt(float(np.dot(deviations * deviations, column.counts)) / n)


def _require_numbers(reference: ColumnSummary, current: ColumnSummary, name: str) -> None:
    for side, column in (("reference", reference), ("current", current)):
        if not column.numeric:
            raise InvalidRequest(
                f"column {column.name!r} in the {side} data should contain numerical values only ({name})"
            )


STATTESTS: dict[str, StatTest] = {
    test.name: test
    for test in (
        StatTest("ks", "K-S p_value", (NUM,), 0.05, ks, True),
        StatTest("chisquare", "chi-square p_value", (CAT,), 0.05, chisquare, True),
        StatTest("z", "Z-test p_value", (CAT,), 0.05, z, True),
        StatTest("wasserstein", "Wasserstein distance (normed)", (NUM,), 0.1, wasserstein, False),
        StatTest("jensenshannon", "Jensen-Shannon distance", (CAT, NUM), 0.1, jensenshannon, False),
        StatTest("psi", "PSI", (CAT, NUM), 0.1, psi, False),
    )
}

SMALL_REFERENCE = 1000
"""A reference of at most this many (non-missing) values gets a hypothesis test, a larger one a distance."""


def default_stattest(reference: ColumnSummary, current: ColumnSummary, column_type: ColumnType) -> StatTest:
    """Evidently's ``_get_default_stattest``: by type, distinct values of both sides, and the reference size.

    Reference ≤ 1000 values: numerical → ``ks``, or with ≤ 5 distinct values ``chisquare`` (> 2) or
    ``z`` (≤ 2); categorical → ``chisquare`` (> 2 distinct values) or ``z``. Larger reference:
    numerical → ``wasserstein``, or ``jensenshannon`` with ≤ 5 distinct values; categorical →
    ``jensenshannon``."""
    n_values = union_nunique(reference, current, at_most=5)
    if reference.n <= SMALL_REFERENCE:
        if column_type == NUM and n_values > 5:
            return STATTESTS["ks"]
        return STATTESTS["chisquare"] if n_values > 2 else STATTESTS["z"]
    if column_type == NUM:
        return STATTESTS["jensenshannon"] if n_values <= 5 else STATTESTS["wasserstein"]
    return STATTESTS["jensenshannon"]


def get_stattest(name: str, column: str, column_type: ColumnType) -> StatTest:
    """The test named ``name`` for a column of ``column_type``, or a clear error."""
    test = STATTESTS.get(name)
    if test is None:
        raise InvalidRequest(
            f"unknown drift test {name!r} (column {column!r})", hint=f"available tests: {', '.join(STATTESTS)}"
        )
    if column_type not in test.column_types:
        kinds = {NUM: "numerical", CAT: "categorical"}
        raise InvalidRequest(
            f"drift test {name!r} does not apply to {kinds.get(column_type, column_type)} column {column!r}",
            hint=f"{name!r} applies to {' and '.join(kinds[kind] for kind in test.column_types)} columns",
        )
    return test


def wasserstein_distance(reference: ColumnSummary, current: ColumnSummary) -> float:
    """scipy's ``wasserstein_distance(u, v)`` (its ``_cdf_distance`` with p = 1) on two summaries.

    ∫|U - V| over the merged sorted values: Σ |U(xᵢ) - V(xᵢ)|·(xᵢ₊₁ - xᵢ), where U(x) and V(x) are
    the shares of each sample ≤ x. Both value arrays are sorted already, so one stable merge and a
    cumulative count replace scipy's sorts and binary searches (tied values add 0-width terms).
    U - V is kept as the exact integer (count_u·n_v - count_v·n_u) until one final division."""
    u, v = reference.values.astype(np.float64, copy=False), current.values.astype(np.float64, copy=False)
    merged = np.concatenate((u, v))
    order = np.argsort(merged, kind="stable")
    weights = np.concatenate((reference.counts * current.n, reference.n * -current.counts))
    difference = np.cumsum(weights[order][:-1])
    np.abs(difference, out=difference)
    return float(np.dot(difference, np.diff(merged[order]))) / (reference.n * current.n)
