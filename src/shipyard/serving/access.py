"""Who is calling: the API key in a request's ``Authorization`` header, checked cheaply.

The HTTP edge calls ``identify`` once per request with the raw header value and the client
address. A key is read from the registry at most once per ``cache_seconds`` (a revocation
takes effect within that), on a worker thread so the event loop never waits for the
database; a cached request costs a dict lookup and one sha256. ``last_used_at`` is written
at most once a minute per key, off the event loop, and nobody waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from shipyard.context import Caller
from shipyard.errors import ShipyardError, Unauthenticated
from shipyard.governance.keys import KeyRecord, check_usable, parse_token

logger = logging.getLogger(__name__)

TOUCH_EVERY_SECONDS = 60.0


class AccessPolicy(Protocol):
    async def identify(self, authorization: str | None, *, source: str) -> Caller:
        """Who is calling; ``Unauthenticated`` for a header that names no usable key."""
        ...


class KeyReader(Protocol):
    """What ``KeyAccess`` needs of the key store (``registry.sql.keys.KeyStore``)."""

    def get(self, key_id: str) -> KeyRecord | None: ...

    def touch_last_used(self, key_id: str, when: datetime) -> None: ...


class KeyAccess:
    """``AccessPolicy`` over the registry's API keys."""

    def __init__(
        self,
        keys: KeyReader,
        *,
        cache_seconds: float = 2.0,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._ttl = cache_seconds
        self._max = max_cached
        self._clock = clock
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._loading: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._touched: dict[str, float] = {}
        self._background: set[asyncio.Future[None]] = set()

    async def identify(self, authorization: str | None, *, source: str) -> Caller:
        if authorization is None:
            return Caller(source=source)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "unsupported Authorization scheme: send 'Authorization: Bearer <key>'",
                hint="set SHIPYARD_API_KEY (or api_key=) to a key from `shipyard keys create`",
            )
        parsed = parse_token(token)
        record = await self._record(parsed.id)
        if record is None:
            raise Unauthenticated(f"unknown key {parsed.id}", hint="`shipyard keys list` shows the keys that exist")
        check_usable(record, parsed.secret, datetime.now(UTC))
        self._touch(record.id)
        return Caller(
            subject=f"key:{record.id}",
            grants=record.grants,
            authenticated=True,
            key_id=record.id,
            key_name=record.name,
            source=source,
        )

    async def _record(self, key_id: str) -> KeyRecord | None:
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._loading.get(key_id)
        if pending is not None:  # one database read per key, however many requests wait for it
            return await asyncio.shield(pending)
        future: asyncio.Future[KeyRecord | None] = asyncio.get_running_loop().create_future()
        self._loading[key_id] = future
        try:
            record = await asyncio.to_thread(self._keys.get, key_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            raise
        finally:
            self._loading.pop(key_id, None)
        future.set_result(record)
        self._remember(key_id, record, now)
        return record

    def _remember(self, key_id: str, record: KeyRecord | None, now: float) -> None:
        if len(self._cache) >= self._max:
            for stale in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[stale]
            while len(self._cache) >= self._max:  # all fresh: drop the oldest
                del self._cache[next(iter(self._cache))]
        self._cache[key_id] = (now + self._ttl, record)

    def _touch(self, key_id: str) -> None:
        now = self._clock()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_EVERY_SECONDS:
            return
        if len(self._touched) >= self._max:
            self._touched.clear()
        self._touched[key_id] = now
        task = asyncio.ensure_future(asyncio.to_thread(self._write_touch, key_id, datetime.now(UTC)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _write_touch(self, key_id: str, when: datetime) -> None:
        try:
            self._keys.touch_last_used(key_id, when)
        except ShipyardError as exc:  # bookkeeping only: never fail or slow a request for it
            logger.warning("could not record the use of key %s: %s", key_id, exc)
