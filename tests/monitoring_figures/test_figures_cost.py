"""Outcomes per variant, cost per 1,000 predictions, and the CPU meter that apportions CPU."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from shipyard.config import Settings
from shipyard.errors import InvalidRequest
from shipyard.monitoring.cost import cost_figures, outcome_summary, variant_report


def test_outcomes_per_variant_sums_means_and_rates() -> None:
    variants = ["a", "a", "b", "b", "b", None]
    revenue = [10.0, None, 5.0, 7.0, np.nan, 1.0]
    converted = [1, 0, True, False, 1, None]
    result = outcome_summary(variants, {"revenue": revenue, "converted": converted})
    assert set(result) == {"a", "b", "(none)"}
    a_rev, b_rev = result["a"]["revenue"], result["b"]["revenue"]
    assert (a_rev.count, a_rev.sum, a_rev.mean, a_rev.rate) == (1, 10.0, 10.0, None)
    assert (b_rev.count, b_rev.sum, b_rev.mean) == (2, 12.0, 6.0)
    assert b_rev.std_error == pytest.approx(np.std([5.0, 7.0], ddof=1) / math.sqrt(2))
    b_conv = result["b"]["converted"]
    assert b_conv.rate == pytest.approx(2 / 3) and b_conv.std_error == pytest.approx(math.sqrt(2 / 3 / 3 / 3))
    assert result["(none)"]["converted"].count == 0 and result["(none)"]["converted"].mean is None
    json.dumps({str(k): {n: o.to_dict() for n, o in v.items()} for k, v in result.items()})


def test_cost_per_1000_predictions_and_outcome_per_cost() -> None:
    price = Settings(price_per_core_hour=0.036).price_per_core_hour
    outcomes = outcome_summary(["a"] * 4, {"revenue": [1.0, 2.0, 3.0, 4.0]})["a"]
    figures = cost_figures(4000, 18.0, price, outcomes)
    assert figures.cpu_seconds_per_1000 == pytest.approx(4.5)
    assert figures.cost == pytest.approx(18.0 / 3600 * 0.036)
    assert figures.cost_per_1000 == pytest.approx(4.5 / 3600 * 0.036)
    assert figures.outcome_per_cost["revenue"] == pytest.approx(10.0 / (18.0 / 3600 * 0.036))
    assert figures.notes == ()
    json.dumps(figures.to_dict())


def test_cost_without_a_price_or_without_predictions() -> None:
    unpriced = cost_figures(100, 2.0, Settings().price_per_core_hour, outcome_summary(["a"], {"r": [1.0]})["a"])
    assert unpriced.cost == 0.0 and unpriced.outcome_per_cost == {"r": None}
    assert unpriced.cpu_seconds_per_1000 == 20.0
    assert any("price_per_core_hour is 0" in n for n in unpriced.notes)
    idle = cost_figures(0, 0.5, 1.0)
    assert idle.cpu_seconds_per_1000 is None and idle.cost_per_1000 is None and idle.cost > 0


def test_variant_report_puts_outcomes_next_to_cost() -> None:
    outcomes = outcome_summary(["a", "b", "b"], {"revenue": [3.0, 1.0, 1.0]})
    report = variant_report({"a": 1000, "b": 2000}, {"a": 1.0, "b": 4.0}, 3.6, outcomes)
    assert report["a"].cost.cost_per_1000 == pytest.approx(0.001)
    assert report["b"].cost.cost_per_1000 == pytest.approx(0.002)
    assert report["a"].cost.outcome_per_cost["revenue"] == pytest.approx(3.0 / 0.001)
    assert report["b"].outcomes["revenue"].sum == 2.0
    json.dumps({str(k): v.to_dict() for k, v in report.items()})


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: outcome_summary(["a", "b"], {"revenue": [1.0]}), "differ in length"),
        (lambda: outcome_summary(["a"], {"revenue": ["lots"]}), "not numbers"),
        (lambda: outcome_summary(["a"], {"revenue": [math.inf]}), "infinite"),
        (lambda: outcome_summary([["a"], ["b"], ["c"]] * 1 + [["d", "e"]], {}), "1-D"),
        (lambda: cost_figures(-1, 1.0, 1.0), "count"),
        (lambda: cost_figures(10, -1.0, 1.0), "cpu_seconds"),
        (lambda: cost_figures(10, 1.0, math.nan), "price_per_core_hour"),
        (lambda: variant_report({"a": 1}, {"b": 1.0}, 1.0), "without a prediction count"),
    ],
)
def test_bad_input_is_refused(call: Any, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        call()
