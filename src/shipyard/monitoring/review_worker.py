"""The review worker in each server: every ``review_poll_seconds``, on a thread,

1. expire the undecided tickets past their deadline (their answer is the fallback);
2. take the finished tickets no worker has taken yet (compare-and-set in the registry, so
   with several workers and servers each ticket is taken once; a ticket with a webhook is
   leased and taken again only if its worker died or its delivery is to be retried):
   measure the wait (``shipyard_review_wait_seconds``), make sure the decision is recorded
   as feedback (the label of each row, by the reviewer), and POST the decision to the
   ticket's webhook, signed like alert webhooks (``X-Shipyard-Signature``: HMAC-SHA256 of
   the timestamp and the body with the secret in ``SHIPYARD_REVIEW_WEBHOOK_SECRET``), to a
   URL checked at each delivery (http(s), no credentials, public addresses unless
   ``webhook_allow_private``), retried with backoff up to ``DELIVERY_ATTEMPTS`` times;
3. set ``shipyard_review_tickets`` from the registry's counts.

It lives in the monitoring layer (not serving) because it reuses the alert webhook
signing and URL checks, and sets Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from shipyard.errors import InvalidRequest
from shipyard.monitoring.alerts.signing import DELIVERY_HEADER, EVENT_HEADER, signed_headers
from shipyard.monitoring.alerts.urls import Unresolvable, pin, redact
from shipyard.monitoring.review_metrics import ReviewMetrics
from shipyard.registry.sql.reviews import DELIVERY_ATTEMPTS, Finished, ReviewStore
from shipyard.serving.periodic import Periodic

logger = logging.getLogger("shipyard.reviews")

SECRET_ENV = "SHIPYARD_REVIEW_WEBHOOK_SECRET"  # noqa: S105 (the name of the variable, not a secret)
USER_AGENT = "shipyard-reviews/1"
EVENT = "review.decision"
TIMEOUT_SECONDS = 10.0
LEASE_SECONDS = 60.0
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Outcome:
    """What one send did: delivered, or not and whether to try again."""

    ok: bool
    retry: bool
    status: int | None = None
    error: str | None = None


@dataclass
class RunCounts:
    expired: int = 0
    finished: int = 0
    delivered: int = 0
    failed: int = 0


class ReviewWorker:
    """``ReviewWorker(store.reviews, metrics, seconds=5).start()``; ``await stop()``."""

    def __init__(
        self,
        store: ReviewStore,
        metrics: ReviewMetrics | None,
        *,
        seconds: float,
        allow_private: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.allow_private = allow_private
        self._env = os.environ if env is None else env
        self._client: httpx.Client | None = None
        self._periodic = Periodic("review worker", seconds, self.tick)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        if self._client is not None:
            self._client.close()
            self._client = None

    async def tick(self) -> None:
        await asyncio.to_thread(self.run_once)

    def run_once(self, now: datetime | None = None) -> RunCounts:
        counts = RunCounts()
        counts.expired = len(self.store.expire_due(now))
        for finished in self.store.take_finished(lease_seconds=LEASE_SECONDS):
            counts.finished += 1
            try:
                self._finish(finished, counts)
            except Exception:  # one ticket's trouble does not stop the others
                logger.exception("review ticket %s: finishing failed", finished.ticket.id)
        if self.metrics is not None:
            self.metrics.counts(self.store.counts())
        return counts

    def _finish(self, finished: Finished, counts: RunCounts) -> None:
        if finished.first:
            if self.metrics is not None:
                self.metrics.observe(finished.ticket)
            self.store.record_feedback(finished.ticket)
        if finished.url is not None:
            if self._deliver(finished):
                counts.delivered += 1
            else:
                counts.failed += 1

    def _deliver(self, finished: Finished) -> bool:
        assert finished.url is not None
        outcome = self.send(finished)
        attempts = finished.attempts + 1
        retry_in: float | None = None
        if not outcome.ok and outcome.retry and attempts < DELIVERY_ATTEMPTS:
            retry_in = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1))
        self.store.delivered(
            finished.ticket.id, ok=outcome.ok, status=outcome.status, error=outcome.error, retry_in=retry_in
        )
        if not outcome.ok:
            logger.warning(
                "review ticket %s: delivery to %s failed (attempt %d%s): %s",
                finished.ticket.id,
                redact(finished.url),
                attempts,
                ", will retry" if retry_in is not None else ", giving up",
                outcome.error,
            )
        return outcome.ok

    def send(self, finished: Finished) -> Outcome:
        """POST the decision to the ticket's webhook, signed; what happened."""
        url = finished.url or ""
        secret = self._env.get(SECRET_ENV)
        if not secret:
            return Outcome(False, False, error=f"the environment variable {SECRET_ENV} (the signing secret) is not set")
        try:
            target = pin(url, allow_private=self.allow_private)
        except Unresolvable as exc:
            return Outcome(False, True, error=exc.message)
        except InvalidRequest as exc:
            return Outcome(False, False, error=f"refused: {exc.message}")
        body = orjson.dumps(payload(finished))
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            DELIVERY_HEADER: finished.ticket.id,
            EVENT_HEADER: EVENT,
            **signed_headers(secret.encode(), body),
        }
        extensions = {"sni_hostname": target.server_name} if target.url.startswith("https:") else {}
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT})
        try:
            response = self._client.post(
                target.url, content=body, headers=headers, timeout=TIMEOUT_SECONDS, extensions=extensions
            )
        except httpx.TransportError as exc:
            return Outcome(False, True, error=f"{type(exc).__name__} to {redact(url)}: {str(exc)[:200]}")
        status = response.status_code
        if 200 <= status < 300:
            return Outcome(True, False, status=status)
        if 300 <= status < 400:
            return Outcome(False, False, status=status, error="redirects are not followed")
        retry = status >= 500 or status in RETRY_STATUSES
        return Outcome(False, retry, status=status, error=f"HTTP {status}")


def payload(finished: Finished) -> dict[str, Any]:
    """The webhook body: the poll body plus the target (never the inputs)."""
    ticket = finished.ticket
    return {
        "event": EVENT,
        **ticket.poll_body(),
        "target": ticket.target,
        "deployment": ticket.deployment,
        "variant": ticket.variant,
        "comment": ticket.comment,
    }
