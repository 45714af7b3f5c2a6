"""Delivering alert events: signed webhooks and retraining hooks, off the event loop.

One ``Deliverer`` per process owns a daemon thread and a bounded schedule (a heap of jobs
by due time). ``submit`` never blocks: past ``max_queue`` jobs a delivery is recorded as
failed ("queue full") instead. A webhook attempt resolves and checks the URL again
(``alerts/urls.pin``), connects to the checked address, follows no redirect, and is
retried on connection errors, 408, 425, 429 and 5xx with exponential backoff and jitter,
up to the webhook's ``attempts``. A retraining command runs once (a retraining is not
assumed idempotent), as an argument list, with a timeout and the event as JSON on stdin
and in ``SHIPYARD_ALERT``. Every attempt is recorded on the delivery row
(``store.alerts.deliveries``): attempts, last HTTP status or exit code, last error.

A delivery is claimed by the worker that sends it, for a lease renewed at each attempt.
When a worker dies with deliveries pending, their leases run out and ``recover`` (called
by every engine's evaluation, at most every ``RECOVER_SECONDS``) claims them for another
worker by compare-and-set, which sends them from where they stood. Delivery is at least
once: a worker that dies after a receiver took a request but before recording it leaves
it to be sent again, with the same ``X-Shipyard-Delivery`` id for the receiver to drop.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import os
import random
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from shipyard.errors import InvalidRequest
from shipyard.monitoring.alerts.rules import LOG, RuleFile, Webhook
from shipyard.monitoring.alerts.signing import DELIVERY_HEADER, EVENT_HEADER, signed_headers
from shipyard.monitoring.alerts.urls import Unresolvable, pin, redact
from shipyard.registry.sql.alerts import DELIVERED, DELIVERY_PENDING, FAILED, AlertStore, Delivery

logger = logging.getLogger("shipyard.alerts")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}

USER_AGENT = "shipyard-alerts/1"
RETRY_STATUSES = frozenset({408, 425, 429})
MAX_ERROR_CHARS = 500
RECOVER_SECONDS = 30.0
LEASE_MARGIN_SECONDS = 300.0


@dataclass(frozen=True)
class Backoff:
    """Attempt ``n`` (1-based) failed: wait ``min(cap, base * 2**(n-1))``, half of it jittered."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        full = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return full / 2 + rng.uniform(0, full / 2)


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    delivery: Delivery = field(compare=False)
    payload: dict[str, Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt: ``retry`` True when another may succeed."""

    ok: bool
    retry: bool
    status: int | None = None
    error: str | None = None


class Deliverer:
    """Runs deliveries on its own thread; ``close`` stops it (undelivered rows stay pending)."""

    def __init__(
        self,
        store: AlertStore,
        rules: Callable[[], RuleFile],
        *,
        allow_private: bool = False,
        max_queue: int = 1000,
        backoff: Backoff | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._allow_private = allow_private
        self._max_queue = max_queue
        self._backoff = backoff or Backoff()
        self._env = os.environ if env is None else env
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._busy = 0
        self._rng = random.Random()
        self.worker = f"{os.uname().nodename[:60]}-{os.getpid()}-{secrets.token_hex(4)}"
        """This deliverer's name on the deliveries it claims."""
        self._recovered_at = -math.inf
        self._client = httpx.Client(follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT})
        self._thread = threading.Thread(target=self._run, name="shipyard-alerts", daemon=True)
        self._thread.start()

    def submit(self, delivery: Delivery, payload: dict[str, Any]) -> bool:
        """Schedule ``delivery`` now; False (and the row marked failed) when the queue is full."""
        with self._cv:
            if not self._closed and len(self._heap) < self._max_queue:
                job = _Job(time.monotonic(), next(self._seq), delivery, payload, attempt=delivery.attempts)
                heapq.heappush(self._heap, job)
                self._cv.notify()
                return True
        self._record(delivery, FAILED, delivery.attempts, None, "the delivery queue is full (or the deliverer closed)")
        return False

    def recover(self, *, force: bool = False) -> int:
        """Claim and schedule pending deliveries nobody holds (at most every
        ``RECOVER_SECONDS`` unless ``force``); how many were claimed."""
        now = time.monotonic()
        if not force and now - self._recovered_at < RECOVER_SECONDS:
            return 0
        self._recovered_at = now
        with self._cv:
            room = self._max_queue - len(self._heap)
        if room <= 0:
            return 0
        claimed = self._store.claim_stale(self.worker, limit=min(room, 100))
        for delivery, payload in claimed:
            logger.info("resuming alert delivery %d (%s) left by another worker", delivery.id, delivery.channel)
            self.submit(delivery, payload)
        return len(claimed)

    def lease_seconds(self, channel: str) -> float:
        """How long one attempt on ``channel`` (and the wait before the next) may take."""
        rules = self._rules()
        name = channel.split(":", 1)[-1]
        if channel.startswith("retrain:") and name in rules.retrain and rules.retrain[name].command is not None:
            return rules.retrain[name].timeout + LEASE_MARGIN_SECONDS
        return LEASE_MARGIN_SECONDS + self._backoff.cap + 60.0

    def idle(self) -> bool:
        """Nothing scheduled and nothing running."""
        with self._cv:
            return not self._heap and self._busy == 0

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.02)
        return self.idle()

    def close(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout)
        self._client.close()

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (not self._heap or self._heap[0].due > time.monotonic()):
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cv.wait(wait)
                if self._closed:
                    return
                job = heapq.heappop(self._heap)
                self._busy += 1
            try:
                self._attempt(job)
            except Exception:  # a bug must not end the thread: record it and go on
                logger.exception("alert delivery %d failed unexpectedly", job.delivery.id)
                self._record(job.delivery, FAILED, job.attempt + 1, None, "internal error (see the server log)")
            finally:
                with self._cv:
                    self._busy -= 1

    def _attempt(self, job: _Job) -> None:
        channel = job.delivery.channel
        lease = self.lease_seconds(channel)
        if not self._store.renew(job.delivery.id, self.worker, lease):
            logger.info("alert delivery %d is no longer this worker's to send", job.delivery.id)
            return
        job.attempt += 1
        rules = self._rules()
        limit = 1
        if channel == LOG:
            log_event(job.payload)
            result = Attempt(True, False)
        elif channel.startswith("webhook:"):
            hook = rules.webhooks.get(channel.removeprefix("webhook:"))
            result = self._send(hook, job) if hook else Attempt(False, False, error="the webhook left the rule file")
            limit = hook.attempts if hook else 1
        elif channel.startswith("retrain:"):
            retrain = rules.retrain.get(channel.removeprefix("retrain:"))
            if retrain is None:
                result = Attempt(False, False, error="the retraining hook left the rule file")
            elif retrain.webhook is not None:
                hook = rules.webhooks.get(retrain.webhook)
                result = self._send(hook, job) if hook else Attempt(False, False, error="its webhook left the file")
                limit = hook.attempts if hook else 1
            else:
                result = run_command(retrain.command or [], job.payload, timeout=retrain.timeout, cwd=retrain.cwd)
        else:
            result = Attempt(False, False, error=f"unknown channel {channel!r}")
        if result.ok:
            self._record(job.delivery, DELIVERED, job.attempt, result.status, None)
            logger.info(
                "alert %s delivered to %s",
                job.payload.get("alert"),
                channel,
                extra={"fields": {"delivery": job.delivery.id, "channel": channel, "attempts": job.attempt}},
            )
            return
        if result.retry and job.attempt < limit:
            self._record(job.delivery, DELIVERY_PENDING, job.attempt, result.status, result.error, lease=lease)
            job.due = time.monotonic() + self._backoff.delay(job.attempt, self._rng)
            with self._cv:
                heapq.heappush(self._heap, job)
                self._cv.notify()
            return
        self._record(job.delivery, FAILED, job.attempt, result.status, result.error)
        logger.warning(
            "alert %s: delivery to %s failed after %d attempt(s): %s",
            job.payload.get("alert"),
            channel,
            job.attempt,
            result.error,
            extra={"fields": {"delivery": job.delivery.id, "channel": channel, "status": result.status}},
        )

    def _send(self, hook: Webhook, job: _Job) -> Attempt:
        secret = self._env.get(hook.secret_env)
        if not secret:
            return Attempt(False, False, error=f"the environment variable {hook.secret_env} (the secret) is not set")
        try:
            target = pin(hook.url, allow_private=self._allow_private)
        except Unresolvable as exc:
            return Attempt(False, True, error=exc.message)
        except InvalidRequest as exc:
            return Attempt(False, False, error=f"refused: {exc.message}")
        body = orjson.dumps(job.payload)
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            DELIVERY_HEADER: str(job.delivery.id),
            EVENT_HEADER: str(job.delivery.event_id),
            **signed_headers(secret.encode(), body),
        }
        extensions = {"sni_hostname": target.server_name} if target.url.startswith("https:") else {}
        try:
            response = self._client.post(
                target.url, content=body, headers=headers, timeout=hook.timeout, extensions=extensions
            )
        except httpx.TransportError as exc:
            return Attempt(False, True, error=f"{type(exc).__name__} to {redact(hook.url)}: {str(exc)[:200]}")
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(True, False, status=status)
        if 300 <= status < 400:
            return Attempt(False, False, status=status, error="redirects are not followed")
        retry = status >= 500 or status in RETRY_STATUSES
        return Attempt(False, retry, status=status, error=f"HTTP {status}: {response.text[:MAX_ERROR_CHARS]}")

    def _record(
        self,
        delivery: Delivery,
        status: str,
        attempts: int,
        last: int | None,
        error: str | None,
        *,
        lease: float = LEASE_MARGIN_SECONDS,
    ) -> None:
        try:
            self._store.record_attempt(
                delivery.id, status=status, attempts=attempts, last_status=last, last_error=error, lease_seconds=lease
            )
        except Exception:
            logger.exception("could not record alert delivery %d", delivery.id)


def log_event(payload: dict[str, Any]) -> None:
    """The log channel: one line at the rule's severity (a resolution at info)."""
    firing = payload.get("state") == "firing"
    level = _LEVELS.get(str(payload.get("severity")), logging.WARNING) if firing else logging.INFO
    logger.log(
        level,
        "alert %s %s: %s",
        payload.get("alert"),
        payload.get("state"),
        payload.get("summary"),
        extra={"fields": {"alert": payload}},
    )


def run_command(argv: list[str], payload: dict[str, Any], *, timeout: float, cwd: str | None = None) -> Attempt:
    """Run a retraining command: ``argv`` (no shell), the event as JSON on stdin and in
    ``SHIPYARD_ALERT``; its exit code is the ``status``."""
    document = orjson.dumps(payload)
    env = {**os.environ, "SHIPYARD_ALERT": document.decode()}
    try:
        done = subprocess.run(  # an argument list from the owner's rule file, no shell
            argv, input=document, capture_output=True, timeout=timeout, env=env, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired:
        return Attempt(False, False, error=f"the command did not finish within {timeout:g}s (killed)")
    except OSError as exc:
        return Attempt(False, False, error=f"the command could not start: {exc.strerror or exc}")
    if done.returncode == 0:
        return Attempt(True, False, status=0)
    tail = done.stderr.decode(errors="replace").strip()[-MAX_ERROR_CHARS:]
    return Attempt(False, False, status=done.returncode, error=f"exit status {done.returncode}: {tail}")
