"""The Redis-backed limiter against the real Redis on 127.0.0.1:6379: counters shared by two
limiters (two workers), and what happens when Redis cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis

from shipyard.context import ANONYMOUS, Caller
from shipyard.errors import RateLimited
from shipyard.governance.scopes import Grant
from shipyard.serving.ratelimit import RedisLimiter, parse_rate_limits

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY_A = "0123456789ab"


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="needs the Redis server on 127.0.0.1:6379")


def key(key_id: str, *roles: str) -> Caller:
    return Caller(subject=f"key:{key_id}", grants=tuple(Grant(r) for r in roles), authenticated=True, key_id=key_id)


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix of this test alone; every key under it is deleted afterwards."""
    value = f"shipyard-test:{os.getpid()}:{request.node.name}:{time.monotonic_ns()}:"
    yield value
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=value.replace("[", "\\[").replace("]", "\\]") + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def admitted(check: Callable[[Caller], Awaitable[None]], caller: Caller, n: int) -> int:
    passed = 0
    for _ in range(n):
        try:
            await check(caller)
        except RateLimited:
            continue
        passed += 1
    return passed


def at_window_start(period: float = 1.0) -> None:
    """Sleep to just after a window boundary so a burst fits in one window."""
    now = time.time()
    time.sleep(period - now % period + 0.01)


def test_two_workers_share_one_counter(prefix: str) -> None:
    quotas = parse_rate_limits(f"predictor=10/m,key:{KEY_A}=6/m,anonymous=4/m")

    async def run() -> None:
        one = RedisLimiter(quotas, REDIS_URL, prefix=prefix)
        two = RedisLimiter(quotas, REDIS_URL, prefix=prefix)
        try:
            a = key(KEY_A, "predictor")
            # Interleaved, as a load balancer spreads one client over two workers.
            passed = 0
            for i in range(12):
                try:
                    await (one if i % 2 else two).check(a)
                except RateLimited as exc:
                    assert "key:0123456789ab: 6 per minute" in exc.message
                    assert isinstance(exc.details["retry_after"], int)
                    assert 1 <= exc.details["retry_after"] <= 120
                    continue
                passed += 1
            assert passed == 6
            # The role quota, per key, and the shared anonymous counter.
            assert await admitted(one.check, key("bbbbbbbbbbbb", "predictor"), 7) == 7
            assert await admitted(two.check, key("bbbbbbbbbbbb", "predictor"), 7) == 3
            assert await admitted(one.check, ANONYMOUS, 3) == 3
            assert await admitted(two.check, Caller(source="10.1.2.3"), 3) == 1
            assert one.redis_failures == two.redis_failures == 0
            assert one.rejected + two.rejected == 12 - 6 + 4 + 2
        finally:
            await one.close()
            await two.close()

    asyncio.run(run())
    # The counters are in Redis under the prefix, with a TTL of two periods.
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    assert keys
    assert all(0 < client.ttl(k) <= 121 for k in keys)
    assert any(b"{key:0123456789ab}:60:" in k for k in keys)
    client.close()


def test_retry_after_from_redis_is_honest(prefix: str) -> None:
    quotas = parse_rate_limits("anonymous=3/s")

    async def run() -> None:
        lim = RedisLimiter(quotas, REDIS_URL, prefix=prefix)
        try:
            at_window_start()
            assert await admitted(lim.check, ANONYMOUS, 5) == 3
            with pytest.raises(RateLimited) as info:
                await lim.check(ANONYMOUS)
            wait = info.value.details["retry_after"]
            assert wait == 2  # the next window, once 3 * (1 - g) + 1 <= 3: 1 s + 1/3 s, rounded up
            await asyncio.sleep(wait)
            await lim.check(ANONYMOUS)
        finally:
            await lim.close()

    asyncio.run(run())


def test_unreachable_redis_fails_open_to_per_worker_limits(caplog: pytest.LogCaptureFixture) -> None:
    quotas = parse_rate_limits("predictor=5/m")

    async def run() -> None:
        lim = RedisLimiter(quotas, f"redis://127.0.0.1:{closed_port()}/0", prefix="unused:")
        try:
            t = time.perf_counter()
            # Served, and still limited: by this worker's own counters.
            assert await admitted(lim.check, key(KEY_A, "predictor"), 8) == 5
            assert time.perf_counter() - t < 2.0
            assert lim.redis_failures == 1  # one failure, then Redis is left alone for a while
            # After the retry delay it is tried again: another failure, no second warning.
            lim._skip_until = 0.0
            assert await admitted(lim.check, key("bbbbbbbbbbbb", "predictor"), 1) == 1
            assert lim.redis_failures == 2
        finally:
            await lim.close()

    with caplog.at_level(logging.WARNING, logger="shipyard.serving.ratelimit"):
        asyncio.run(run())
    warnings = [r for r in caplog.records if r.name == "shipyard.serving.ratelimit"]
    assert len(warnings) == 1
    assert "Redis unavailable" in warnings[0].getMessage()
    assert "limiting per worker" in warnings[0].getMessage()


def test_a_hanging_redis_times_out_quickly() -> None:
    """A Redis that accepts connections but never answers costs one short timeout, not a hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    quotas = parse_rate_limits("anonymous=100/s")

    async def run() -> None:
        lim = RedisLimiter(quotas, f"redis://127.0.0.1:{port}/0", prefix="unused:", timeout=0.2)
        try:
            t = time.perf_counter()
            for _ in range(50):
                await lim.check(ANONYMOUS)
            assert time.perf_counter() - t < 1.5
            assert lim.redis_failures == 1
        finally:
            await lim.close()

    try:
        asyncio.run(run())
    finally:
        server.close()


def test_cost_per_check_in_redis(prefix: str) -> None:
    """One round trip per check (measured ~100 µs on loopback)."""
    quotas = parse_rate_limits("predictor=999999999/s")

    async def run() -> float:
        lim = RedisLimiter(quotas, REDIS_URL, prefix=prefix)
        caller = key(KEY_A, "predictor")
        try:
            await lim.check(caller)
            n = 2000
            t = time.perf_counter()
            for _ in range(n):
                await lim.check(caller)
            assert lim.redis_failures == 0
            return (time.perf_counter() - t) / n
        finally:
            await lim.close()

    per_check = asyncio.run(run())
    assert per_check < 2e-3, f"{per_check * 1e6:.0f} µs per check"


def test_a_burst_waits_for_connections_instead_of_failing(prefix: str) -> None:
    """More concurrent checks than pooled connections (64): all reach Redis, none falls back."""
    quotas = parse_rate_limits("predictor=200/m")

    async def run() -> None:
        lim = RedisLimiter(quotas, REDIS_URL, prefix=prefix)
        try:
            results = await asyncio.gather(
                *(lim.check(key(KEY_A, "predictor")) for _ in range(300)), return_exceptions=True
            )
            assert lim.redis_failures == 0
            assert sum(r is None for r in results) == 200
            assert all(isinstance(r, RateLimited) for r in results if r is not None)
        finally:
            await lim.close()

    asyncio.run(run())


def test_after_a_failure_one_request_probes_and_an_answer_brings_redis_back(prefix: str) -> None:
    quotas = parse_rate_limits("predictor=1000/m")

    async def run() -> None:
        dead = RedisLimiter(quotas, f"redis://127.0.0.1:{closed_port()}/0", prefix="unused:")
        live = RedisLimiter(quotas, REDIS_URL, prefix=prefix)
        try:
            await dead.check(key(KEY_A, "predictor"))
            assert dead.redis_failures == 1
            # The retry time has come: of 20 concurrent requests, one probes, 19 fall back.
            dead._skip_until = time.time() - 0.001
            await asyncio.gather(*(dead.check(key(KEY_A, "predictor")) for _ in range(20)))
            assert dead.redis_failures == 2
            assert dead._skip_until > time.time()
            # A Redis that answers the probe is used by everyone again.
            live._skip_until = time.time() - 0.001
            await live.check(key(KEY_A, "predictor"))
            assert live._skip_until == 0.0
            assert live.redis_failures == 0
            assert len(live.fallback) == 0  # nothing was counted locally
        finally:
            await dead.close()
            await live.close()

    asyncio.run(run())
