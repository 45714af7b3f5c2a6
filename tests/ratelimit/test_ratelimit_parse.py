"""``settings.rate_limits`` is parsed strictly: every bad entry is a ConfigError naming it."""

from __future__ import annotations

import pytest

from shipyard.config import Settings
from shipyard.errors import ConfigError
from shipyard.serving.ratelimit import (
    LocalLimiter,
    NoLimits,
    Quota,
    RedisLimiter,
    limiter_from_settings,
    parse_rate_limits,
)


def test_good_specs() -> None:
    quotas = parse_rate_limits(" predictor=100/s, publisher = 30/m ,key:0123456789ab=10/h,anonymous=5/m")
    assert quotas == {
        "predictor": Quota("predictor", 100, 1, "second"),
        "publisher": Quota("publisher", 30, 60, "minute"),
        "key:0123456789ab": Quota("key:0123456789ab", 10, 3600, "hour"),
        "anonymous": Quota("anonymous", 5, 60, "minute"),
    }
    assert quotas["predictor"].describe() == "predictor: 100 per second"
    assert quotas["anonymous"].describe() == "anonymous: 5 per minute"
    assert parse_rate_limits("") == {}
    assert parse_rate_limits("   ") == {}


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("predictor", "'predictor'"),
        ("predictor=100", "'predictor=100'"),
        ("predictor=100/d", "unknown period 'd'"),
        ("predictor=100/sec", "unknown period 'sec'"),
        ("predictor=0/s", "at least 1"),
        ("predictor=-1/s", "'predictor=-1/s'"),
        ("predictor=1.5/s", "'predictor=1.5/s'"),
        ("predictor=1e3/s", "'predictor=1e3/s'"),
        ("superuser=10/s", "'superuser'"),
        ("Predictor=10/s", "'Predictor'"),
        ("key:=10/s", "'key:'"),
        ("key:XYZ=10/s", "'key:XYZ'"),
        ("key:0123456789AB=10/s", "'key:0123456789AB'"),
        ("key:0123456789abc=10/s", "'key:0123456789abc'"),
        ("predictor=10/s,predictor=20/s", "more than one quota"),
        ("predictor=10/s,,anonymous=1/s", "empty entry"),
        ("predictor=10/s,", "empty entry"),
        ("=10/s", "'=10/s'"),
        ("anonymous=10/s/s", "'anonymous=10/s/s'"),
    ],
)
def test_bad_specs_name_the_entry(spec: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rate_limits(spec)
    assert named in info.value.message
    assert "rate_limits" in info.value.message


def test_a_good_entry_does_not_hide_a_bad_one() -> None:
    with pytest.raises(ConfigError, match="'viewer=1/y'"):
        parse_rate_limits("predictor=10/s,viewer=1/y")


def test_factory_picks_the_backend() -> None:
    assert isinstance(limiter_from_settings(Settings(rate_limits="")), NoLimits)
    assert not limiter_from_settings(Settings(rate_limits="")).enabled
    local = limiter_from_settings(Settings(rate_limits="predictor=10/s"))
    assert isinstance(local, LocalLimiter)
    assert local.enabled
    remote = limiter_from_settings(Settings(rate_limits="predictor=10/s", redis_url="redis://127.0.0.1:6379/0"))
    assert isinstance(remote, RedisLimiter)
    # No quota at all: Redis is never contacted, even when configured.
    assert isinstance(limiter_from_settings(Settings(rate_limits="", redis_url="redis://127.0.0.1:1/0")), NoLimits)
    with pytest.raises(ConfigError):
        limiter_from_settings(Settings(rate_limits="nobody=1/s"))
