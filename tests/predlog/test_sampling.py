"""``log_sample``: parsing (bad input refused with a clear message) and the sampling decision."""

from __future__ import annotations

import pytest

from shipyard.errors import ConfigError
from shipyard.monitoring.predlog.sampling import Sampler


def test_default_keeps_everything() -> None:
    sampler = Sampler.parse("")
    assert sampler.everything and sampler.keep("any", "r1")


def test_rates_per_target_and_star() -> None:
    sampler = Sampler.parse(" fraud=0.1 , churn=1,*=0 ")
    assert not sampler.everything
    assert sampler.rate("fraud") == pytest.approx(0.1) and sampler.rate("churn") == 1.0 and sampler.rate("x") == 0.0
    assert all(sampler.keep("churn", f"r{i}") for i in range(100))
    assert not any(sampler.keep("other", f"r{i}") for i in range(100))
    kept = sum(sampler.keep("fraud", f"r{i}") for i in range(10_000))
    assert 800 < kept < 1200


def test_the_decision_depends_only_on_the_request_id() -> None:
    a, b = Sampler.parse("m=0.3"), Sampler.parse("m=0.3")
    ids = [f"req-{i}" for i in range(1000)]
    assert [a.keep("m", i) for i in ids] == [b.keep("m", i) for i in ids]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fraud", "is not NAME=RATE"),
        ("=0.5", "is not NAME=RATE"),
        ("fraud=abc", "is not a number"),
        ("fraud=1.5", "between 0 and 1"),
        ("fraud=-0.1", "between 0 and 1"),
        ("fraud=0.1,fraud=0.2", "given twice"),
        ("*=1,*=0.5", "given twice"),
    ],
)
def test_bad_settings_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Sampler.parse(text)
