"""Rate limits and quotas per key, role or anonymous caller: 429 with ``Retry-After``.

Configured by ``settings.rate_limits``, comma-separated ``WHO=N/PERIOD`` entries::

    predictor=100/s, publisher=30/m, key:0123456789ab=10/s, anonymous=600/h

``WHO`` is a role name (``governance.scopes.ROLES``), ``key:ID`` (a key's public 12-hex id)
or ``anonymous``; ``N`` a positive integer; ``PERIOD`` ``s``, ``m`` or ``h``. Each entry is
checked strictly: an unknown role, a malformed id, a zero count, an unknown period or a
second entry for the same ``WHO`` is a ``ConfigError`` naming the entry.

**Which quota applies to a caller** (``quota_for`` of either limiter):

- a key with its own ``key:ID`` entry: that one, whatever its roles;
- otherwise the quotas of the key's roles. A key with several roles that have quotas gets
  the *most generous* of them (the highest rate, N/PERIOD): a key is given roles to be able
  to do more, never to be throttled harder, so adding a role never tightens its limit.
  Roles without an entry are unlimited but do not lift the limit of a role that has one
  (a ``predictor`` + ``viewer`` key with only ``predictor=100/s`` configured gets
  100/s); to exempt one key, give it a generous ``key:ID`` entry;
- anonymous callers: the ``anonymous`` entry. Anonymous callers share **one** counter: the
  entry bounds the total anonymous load a server takes (the point of a quota on open
  inference), not each client address (which a proxy hides and IPv6 makes cheap to rotate);
- anything else: no limit.

Counters are per principal: every key has its own counter (``predictor=100/s`` gives every
predictor key 100 requests a second), all anonymous callers share one.

**Algorithm.** A sliding-window counter (the two-window estimate): a request at fraction
``f`` into the current window sees ``previous * (1 - f) + current`` requests in the last
period, and is admitted when that plus itself stays within ``N``. Only admitted requests
count, so a client hammering at a closed door does not extend its own wait. ``Retry-After``
is the whole number of seconds (at least 1) after which the estimate admits one request.

**Where the counters live.** In-process (``LocalLimiter``: a dict of windows, bounded in size)
unless ``settings.redis_url`` is set; then in Redis (``RedisLimiter``), shared by every worker
and server: one round trip per request (a short Lua script run with ``EVALSHA``: read both
windows, increment when admitted), keys ``<prefix>{<principal>}:<period>:<window>`` with a
hash tag so both windows of a principal live in one Redis Cluster slot, and a TTL of two periods.

**When Redis fails** (down, timing out, refusing), the limiter *fails open to per-worker
limits*: the request is checked against an in-process limiter instead, so quotas still hold
per worker (N workers admit at most N times the quota) and the service keeps serving without
its optional dependency. Redis is then skipped for ``REDIS_RETRY_SECONDS`` so a dead Redis
does not add a timeout to every request; after that one request probes it while the others
still fall back, and the first answer brings everyone back to Redis. A warning is logged at
most once a minute, and ``RedisLimiter.redis_failures`` counts every failure (for a metric).

The module imports no web framework: the HTTP edge identifies the caller, then awaits
``limiter.check(caller)``; ``RateLimited`` carries ``retry_after`` in its details, which
``http/errors.py`` turns into the ``Retry-After`` header.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.config import Settings
from shipyard.context import Caller
from shipyard.errors import ConfigError, RateLimited
from shipyard.governance.scopes import ROLES, Grant

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
PERIODS: dict[str, tuple[int, str]] = {"s": (1, "second"), "m": (60, "minute"), "h": (3600, "hour")}
_ENTRY = re.compile(r"^([^=\s]+)\s*=\s*([0-9]{1,9})\s*/\s*([a-z]+)$")
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
"""A key's public id, as ``governance.keys`` makes them (12 lowercase hex characters)."""

MAX_LOCAL_WINDOWS = 100_000
"""In-process counters kept at most; stale ones are swept first, then the oldest dropped."""
REDIS_TIMEOUT_SECONDS = 1.0
"""Connect and read timeout of one Redis call; a slower Redis counts as a failure. Generous,
because it measures the event loop's delays too: a busy worker must not mistake its own
backlog for a dead Redis. Only requests in flight when Redis stops answering, and then one
probe per ``REDIS_RETRY_SECONDS``, ever wait this long."""
REDIS_MAX_CONNECTIONS = 64
"""Connections to Redis per worker; a burst beyond them waits up to ``REDIS_POOL_WAIT_SECONDS``."""
REDIS_POOL_WAIT_SECONDS = 1.0
REDIS_RETRY_SECONDS = 1.0
"""After a Redis failure, use the in-process fallback this long before trying Redis again."""
WARN_EVERY_SECONDS = 60.0
DEFAULT_PREFIX = "shipyard:rl:"
_SLACK = 1e-6
"""Float slack in the admit test (the Lua script uses the same), so waiting exactly
``Retry-After`` admits."""


@dataclass(frozen=True, slots=True)
class Quota:
    """``limit`` requests per ``period`` seconds for ``who`` (a role, ``key:ID`` or ``anonymous``)."""

    who: str
    limit: int
    period: int
    unit: str

    @property
    def rate(self) -> float:
        """Requests per second: what "most generous" compares."""
        return self.limit / self.period

    def describe(self) -> str:
        """``predictor: 100 per second``."""
        return f"{self.who}: {self.limit} per {self.unit}"


def parse_rate_limits(spec: str) -> dict[str, Quota]:
    """The quotas of ``settings.rate_limits`` by ``who``; ``ConfigError`` naming a bad entry."""
    quotas: dict[str, Quota] = {}
    if not spec.strip():
        return quotas
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            raise ConfigError(
                f"rate_limits {spec[:200]!r} has an empty entry",
                hint="write comma-separated WHO=N/PERIOD entries, e.g. predictor=100/s,anonymous=10/m",
            )
        quota = _parse_entry(entry)
        if quota.who in quotas:
            raise ConfigError(
                f"rate_limits entry {entry[:100]!r}: {quota.who} has more than one quota",
                hint="give each role, key or anonymous one entry",
            )
        quotas[quota.who] = quota
    return quotas


def _parse_entry(entry: str) -> Quota:
    match = _ENTRY.fullmatch(entry)
    if match is None:
        raise ConfigError(
            f"rate_limits entry {entry[:100]!r} is not WHO=N/PERIOD",
            hint="e.g. predictor=100/s, key:0123456789ab=10/m, anonymous=600/h (PERIOD is s, m or h)",
        )
    who, count, unit = match.groups()
    if who.startswith("key:"):
        if not _KEY_ID.fullmatch(who[4:]):
            raise ConfigError(
                f"rate_limits entry {entry[:100]!r}: {who[:80]!r} is not key:ID with a key's 12-hex id",
                hint="`shipyard keys list` shows the ids",
            )
    elif who != ANONYMOUS and who not in ROLES:
        raise ConfigError(
            f"rate_limits entry {entry[:100]!r}: {who[:80]!r} is neither a role, key:ID nor anonymous",
            hint=f"roles: {', '.join(ROLES)}",
        )
    limit = int(count)
    if limit < 1:
        raise ConfigError(
            f"rate_limits entry {entry[:100]!r}: the count must be at least 1",
            hint="to refuse a role everything, take the role away instead",
        )
    if unit not in PERIODS:
        raise ConfigError(f"rate_limits entry {entry[:100]!r}: unknown period {unit!r}", hint="PERIOD is s, m or h")
    seconds, name = PERIODS[unit]
    return Quota(who=who, limit=limit, period=seconds, unit=name)


class RateLimiter(Protocol):
    """What the HTTP edge holds: ``await check(caller)`` after identifying the caller."""

    enabled: bool
    """False when no quota is configured: the edge may skip ``check`` altogether."""

    async def check(self, caller: Caller) -> None:
        """Count one request of ``caller``; ``RateLimited`` (with ``retry_after``) when over quota."""

    async def close(self) -> None:
        """Release connections (the app's lifespan end)."""


class NoLimits:
    """No quota configured: every check passes at once."""

    enabled = False

    async def check(self, caller: Caller) -> None:
        return None

    async def close(self) -> None:
        return None


class _Resolver:
    """Which quota, and which counter, a caller's request goes to (cached per key)."""

    def __init__(self, quotas: dict[str, Quota]) -> None:
        self.quotas = quotas
        self.anonymous = quotas.get(ANONYMOUS)
        self.by_role = {who: q for who, q in quotas.items() if who in ROLES}
        # key id -> (the grants it was resolved for, its quota); keys are bounded by the
        # registry, but the cache is cleared when it grows past MAX_LOCAL_WINDOWS anyway.
        self._cache: dict[str, tuple[tuple[Grant, ...], Quota | None]] = {}

    def quota_for(self, caller: Caller) -> Quota | None:
        key_id = caller.key_id
        if key_id is None:
            if caller.authenticated:
                return self._by_roles(caller.grants)
            return self.anonymous
        cached = self._cache.get(key_id)
        if cached is not None and (cached[0] is caller.grants or cached[0] == caller.grants):
            return cached[1]
        quota = self.quotas.get("key:" + key_id)
        if quota is None:
            quota = self._by_roles(caller.grants)
        if len(self._cache) >= MAX_LOCAL_WINDOWS:
            self._cache.clear()
        self._cache[key_id] = (caller.grants, quota)
        return quota

    def _by_roles(self, grants: tuple[Grant, ...]) -> Quota | None:
        best: Quota | None = None
        for grant in grants:
            quota = self.by_role.get(grant.role)
            if quota is not None and (best is None or quota.rate > best.rate):
                best = quota
        return best


def principal_of(caller: Caller) -> str:
    """The counter a caller's requests go to: its subject (``key:<id>``, ``anonymous``, ...)."""
    return caller.subject


def retry_after(quota: Quota, fraction: float, current: float, previous: float) -> int:
    """Whole seconds until the sliding estimate admits one more request (at least 1).

    At ``fraction`` into the window the estimate is ``previous * (1 - fraction) + current``;
    it falls as the previous window slides out, then restarts from ``current`` in the next one.
    """
    limit, period = quota.limit, quota.period
    need = previous * (1.0 - fraction) + current + 1.0 - limit  # requests to slide out
    if previous > 0 and need <= previous * (1.0 - fraction):
        wait = period * need / previous
    else:
        # Not within this window: in the next one, the estimate is current * (1 - g) + 0.
        remaining = period * (1.0 - fraction)
        excess = current + 1.0 - limit
        wait = remaining + (period * excess / current if current > 0 and excess > 0 else 0.0)
    return max(1, math.ceil(wait - 1e-9))


def _refused(quota: Quota, seconds: int) -> RateLimited:
    return RateLimited(
        f"rate limit exceeded ({quota.describe()})",
        hint=f"retry in {seconds}s, or ask an admin for a higher quota",
        retry_after=seconds,
    )


class _Window:
    __slots__ = ("current", "index", "period", "previous")

    def __init__(self, index: int, period: int) -> None:
        self.index = index
        self.period = period
        self.current = 0
        self.previous = 0


class LocalLimiter:
    """Counters in this process: exact for one worker; each worker counts on its own."""

    enabled = True

    def __init__(self, quotas: dict[str, Quota], *, max_windows: int = MAX_LOCAL_WINDOWS) -> None:
        self._resolver = _Resolver(quotas)
        self.quota_for = self._resolver.quota_for
        self.max_windows = max_windows
        self._windows: dict[str, _Window] = {}
        self.rejected = 0

    async def check(self, caller: Caller) -> None:
        self.check_now(caller, time.time())

    def check_now(self, caller: Caller, now: float) -> None:
        """``check`` at wall-clock time ``now`` (synchronous: tests and the Redis fallback)."""
        quota = self.quota_for(caller)
        if quota is None:
            return
        period = quota.period
        index = int(now // period)
        principal = caller.subject
        window = self._windows.get(principal)
        if window is None:
            if len(self._windows) >= self.max_windows:
                self._evict(now)
            window = self._windows[principal] = _Window(index, period)
        elif window.index != index or window.period != period:
            window.previous = window.current if window.index == index - 1 and window.period == period else 0
            window.period = period
            window.current = 0
            window.index = index
        fraction = (now - index * period) / period
        if window.previous * (1.0 - fraction) + window.current + 1 > quota.limit + _SLACK:
            self.rejected += 1
            raise _refused(quota, retry_after(quota, fraction, window.current, window.previous))
        window.current += 1

    def _evict(self, now: float) -> None:
        # A window is spent once the next one has passed too: drop those; if none are, drop
        # the oldest inserted (dicts keep insertion order) so the map never outgrows its bound.
        stale = [p for p, w in self._windows.items() if (w.index + 2) * w.period <= now]
        for principal in stale:
            del self._windows[principal]
        while len(self._windows) >= self.max_windows:
            del self._windows[next(iter(self._windows))]

    def __len__(self) -> int:
        return len(self._windows)

    async def close(self) -> None:
        self._windows.clear()


# KEYS[1] current window, KEYS[2] previous window; ARGV limit, weight of the previous window,
# TTL. Returns {admitted (1/0), current, previous}, current counting this request if admitted.
_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[2]) + current + 1 > tonumber(ARGV[1]) + 1e-6 then
  return {0, current, previous}
end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {1, current, previous}
"""


class RedisLimiter:
    """Counters in Redis, shared by every worker and server pointed at the same Redis."""

    enabled = True

    def __init__(
        self,
        quotas: dict[str, Quota],
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = REDIS_TIMEOUT_SECONDS,
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        self._resolver = _Resolver(quotas)
        self.quota_for = self._resolver.quota_for
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        # A bounded pool that makes a burst wait for a connection (briefly) rather than fail:
        # the default pool raises at its limit, which would trip the fallback under load.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=REDIS_MAX_CONNECTIONS,
            timeout=REDIS_POOL_WAIT_SECONDS,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
        self.redis: Redis = Redis.from_pool(pool)  # closing the client closes the pool
        self._script: Any = self.redis.register_script(_SCRIPT)
        self.fallback = LocalLimiter(quotas)
        self.redis_failures = 0
        """Every Redis call that failed (a counter for a metric)."""
        self.rejected = 0
        self._skip_until = 0.0
        self._warned_at = -math.inf

    async def check(self, caller: Caller) -> None:
        quota = self.quota_for(caller)
        if quota is None:
            return
        now = time.time()
        if self._skip_until:
            # Redis failed lately: fall back until the retry time, then let one request probe
            # it (the others keep falling back while it does) rather than all of them at once.
            if now < self._skip_until:
                self.fallback.check_now(caller, now)
                return
            self._skip_until = now + self.retry_seconds
        period = quota.period
        index = int(now // period)
        fraction = (now - index * period) / period
        base = f"{self.prefix}{{{caller.subject}}}:{period}:"
        try:
            admitted, current, previous = await self._script(
                keys=[f"{base}{index}", f"{base}{index - 1}"],
                args=[quota.limit, repr(1.0 - fraction), 2 * period + 1],
            )
        except Exception as exc:  # any failure of the optional dependency: degrade, never 5xx
            self._failed(exc, time.time())
            self.fallback.check_now(caller, now)
            return
        if self._skip_until:
            self._skip_until = 0.0  # the probe answered: Redis again for everyone
        if not admitted:
            self.rejected += 1
            raise _refused(quota, retry_after(quota, fraction, int(current), int(previous)))

    def _failed(self, exc: BaseException, now: float) -> None:
        self.redis_failures += 1
        self._skip_until = now + self.retry_seconds
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "rate limits: Redis unavailable (%s); limiting per worker until it answers "
                "(%d failures so far; this warning repeats at most once a minute)",
                type(exc).__name__,
                self.redis_failures,
            )

    async def close(self) -> None:
        await self.redis.aclose()


def limiter_from_settings(settings: Settings) -> RateLimiter:
    """The limiter ``settings`` ask for: none, in-process, or in Redis (``redis_url``)."""
    quotas = parse_rate_limits(settings.rate_limits)
    if not quotas:
        return NoLimits()
    if settings.redis_url:
        return RedisLimiter(quotas, settings.redis_url)
    return LocalLimiter(quotas)


__all__ = [
    "LocalLimiter",
    "NoLimits",
    "Quota",
    "RateLimiter",
    "RedisLimiter",
    "limiter_from_settings",
    "parse_rate_limits",
    "principal_of",
]
