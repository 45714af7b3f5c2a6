"""SLO-aware batching: the tuner that picks one model version's batch size and wait online.

Given a p99 latency target (``slo_p99_ms``), the batcher asks this tuner how many rows a model
call is worth holding for, and how long the oldest request may be held while more come. The
tuner learns both from what the batcher tells it after every call: the rows, the seconds in
the model, and when each request of the call was queued.

- **Batch size.** A least-squares fit of ``seconds = a + b * rows`` over recent calls gives the
  call's fixed cost ``a``. A call is worth holding until it has about ``a / b`` rows (the
  fixed cost is then shared, the per-row cost dominates), and never for more rows than a
  call may take within half the target (a request may wait for the call ahead of it, then
  run in its own). Until calls of different sizes have been seen, every second of a call is
  charged to its rows (``a = 0``): no hold at first.
  The batch size is a target, not a cap: a call still takes what is waiting, up to
  ``max_batch_rows``. With one call at a time, a smaller cap would only split a queue into
  more calls, each paying the fixed cost, and its last request would finish later.
- **Wait.** Calls whose fixed cost is under ``MIN_FIXED_COST_TO_HOLD`` are never held. The
  oldest request is never held longer than the chosen wait: at most
  ``max_batch_wait_ms``, at most ``HOLD_PER_FIXED_COST`` times the call's fixed cost, at most
  what the target leaves after two calls of that size, scaled
  by the share of the target the measured p99 leaves free. So the wait shrinks as load
  rises (queueing eats the target) and is zero once p99 reaches the target (saturation: the
  batcher then only takes what is waiting, throughput first). The dispatcher holds only when
  the arrival gap says another request comes within the wait: a lone request is never held.
- **Measure.** p99 covers queue + model call of the last ``WINDOW_SECONDS``; it does not see
  decoding or the network, so the tuner aims at ``HEADROOM`` of the SLO.

Per request the tuner costs one subtraction and a list slot; every ``TUNE_SECONDS`` it takes
one quantile over at most ``WINDOW_SAMPLES`` latencies. All of it runs on the event loop, bounded.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np

from shipyard.serving.events import BatchRecord

logger = logging.getLogger(__name__)

HEADROOM = 0.8
"""The batcher aims its own p99 (queue + model) at this share of the SLO: the rest is left for
decoding, validation, encoding and the network."""
TUNE_SECONDS = 0.1
"""How often the chosen values are recomputed (at most; only when calls happen)."""
WINDOW_SECONDS = 2.0
"""The measured p99 covers the requests answered in the last this many seconds..."""
WINDOW_SAMPLES = 2048
"""... and at most this many of them (the newest)."""
CALL_OVERHEAD_SECONDS = 0.00005
"""Cost of one call outside the model (queue to pool thread and back, concat, split): counts
towards the fixed cost a larger batch amortises."""
MIN_FIXED_COST_TO_HOLD = 0.0002
"""Calls whose fixed cost is below this (compiled models: tens of µs) are never held: the
timers and wake-ups of a hold cost the event loop about as much as the calls it saves."""
HOLD_PER_FIXED_COST = 10.0
"""A call is never held longer than this many times its fixed cost: a model whose call costs
60 µs is not worth milliseconds of everybody's latency."""
_FIT_ALPHA = 0.05
"""Weight of the newest call in the cost fit (about the last 20 calls count)."""
_SPREAD = 0.05
"""The fit needs call sizes this varied (variance over squared mean): calls of 1 and 2 rows do."""
LOG_SECONDS = 1.0
"""The chosen values are logged at debug level at most this often per model version."""


@dataclass(frozen=True)
class Tuning:
    """What the tuner chose, and what it measured, at one tuning step."""

    slo_seconds: float
    wait_seconds: float
    """The longest the oldest queued request may be held while a call gathers more rows."""
    batch_rows: int
    """Rows a model call is held for (a call still takes what is waiting, up to ``max_batch_rows``)."""
    p99_seconds: float | None
    """Measured p99 of queue + model over the window (None before any request)."""
    saturated: bool
    """p99 is over the target: nothing is held, calls take what is waiting (throughput first)."""


@dataclass(frozen=True)
class TunedBatchRecord(BatchRecord):
    """A ``BatchRecord`` with the tuner's current choice (None when the version has no SLO)."""

    tuning: Tuning | None = None


class LatencyWindow:
    """The latencies of the last ``WINDOW_SECONDS`` (at most ``capacity`` of them, the newest),
    kept per call; p99 on demand."""

    def __init__(self, capacity: int = WINDOW_SAMPLES, seconds: float = WINDOW_SECONDS) -> None:
        self._capacity = capacity
        self._seconds = seconds
        self._calls: deque[tuple[float, list[float]]] = deque()
        self._count = 0

    def add(self, at: float, latencies: list[float]) -> None:
        """The latencies of one call's requests, answered at ``at``."""
        if not latencies:
            return
        self._calls.append((at, latencies[-self._capacity :]))
        self._count += len(self._calls[-1][1])
        while self._count > self._capacity:
            _, oldest = self._calls[0]
            extra = self._count - self._capacity
            if extra >= len(oldest):
                self._calls.popleft()
                self._count -= len(oldest)
            else:
                del oldest[:extra]
                self._count -= extra

    def p99(self, now: float) -> float | None:
        while self._calls and self._calls[0][0] < now - self._seconds:
            self._count -= len(self._calls.popleft()[1])
        if not self._calls:
            return None
        values = np.fromiter(chain.from_iterable(c[1] for c in self._calls), dtype=np.float64, count=self._count)
        return float(np.quantile(values, 0.99))


class CallCost:
    """``seconds = a + b * rows`` for one model version, fitted over recent calls
    (exponentially weighted least squares, O(1) per call)."""

    def __init__(self) -> None:
        self._n = 0.0
        self._c = 0.0
        self._nn = 0.0
        self._nc = 0.0
        self.calls = 0

    def add(self, rows: int, seconds: float) -> None:
        w = 1.0 if self.calls == 0 else _FIT_ALPHA
        self._n += w * (rows - self._n)
        self._c += w * (seconds - self._c)
        self._nn += w * (rows * rows - self._nn)
        self._nc += w * (rows * seconds - self._nc)
        self.calls += 1

    def coefficients(self) -> tuple[float, float]:
        """``(a, b)``; with too little spread in the call sizes, all cost is per row (``a = 0``)."""
        if self.calls == 0:
            return 0.0, 0.0
        if not self._spread():
            return 0.0, self._c / max(self._n, 1.0)
        variance = self._nn - self._n * self._n
        b = (self._nc - self._n * self._c) / variance
        a = self._c - b * self._n
        if b > 0 and a >= 0:
            return a, b
        if b > 0:  # a < 0: the line through the origin is the safe side
            return 0.0, self._nc / max(self._nn, 1e-12)
        return self._c, 0.0  # flat or noisy: the size does not cost

    def _spread(self) -> bool:
        return self._nn - self._n * self._n > _SPREAD * self._n * self._n

    def seconds(self, rows: int) -> float:
        a, b = self.coefficients()
        return a + b * rows

    def rows_within(self, seconds: float, ceiling: int) -> int:
        """The most rows (1 to ``ceiling``) whose call fits in ``seconds``. Calls all of one
        size cannot show the fixed cost: then twice their size is allowed, to learn it."""
        a, b = self.coefficients()
        rows = int((seconds - a) / b) if b > 0 else (ceiling if a <= seconds else 1)
        if self.calls and not self._spread():
            rows = max(rows, math.ceil(2 * self._n))
        return max(1, min(ceiling, rows))


class SloTuner:
    """Chooses one batcher's batch size and wait to keep its p99 under ``slo_seconds``."""

    def __init__(self, slo_seconds: float, *, max_rows: int, max_wait_seconds: float, ref: str = "") -> None:
        self.slo_seconds = slo_seconds
        self._ceiling_rows = max_rows
        self._ceiling_wait = max_wait_seconds
        self._ref = ref
        self.cost = CallCost()
        self.window = LatencyWindow()
        self._next_tune = 0.0
        self._next_log = 0.0
        self.tuning = Tuning(slo_seconds, 0.0, 1, None, False)

    def hold_for(self, expected_gap: float | None, *, waited: float, rows: int) -> float:
        """How long the dispatcher holds the next call for more rows, given the expected gap
        to the next request, how long the oldest queued request has waited and the rows
        queued: 0 once ``batch_rows`` are there, once the oldest has waited the chosen wait,
        or unless another request is expected within what is left (a lone request is never
        held); else until the expected arrivals make up ``batch_rows``."""
        left = self.tuning.wait_seconds - waited
        wanted = self.tuning.batch_rows
        if left <= 0 or expected_gap is None or expected_gap >= left or rows >= wanted:
            return 0.0
        return min(left, (wanted - rows) * expected_gap)

    def observe(self, now: float, rows: int, compute_seconds: float, enqueued: Iterable[float]) -> None:
        """After each call: its rows and model seconds, and when its requests were queued."""
        self.cost.add(rows, compute_seconds)
        self.window.add(now, [now - queued for queued in enqueued])
        if now >= self._next_tune:
            self._next_tune = now + TUNE_SECONDS
            self.retune(now)

    def retune(self, now: float) -> Tuning:
        p99 = self.window.p99(now)
        target = HEADROOM * self.slo_seconds
        a, b = self.cost.coefficients()
        amortising = math.ceil((a + CALL_OVERHEAD_SECONDS) / b) if b > 0 else self._ceiling_rows
        batch_rows = max(1, min(amortising, self.cost.rows_within(target / 2, self._ceiling_rows)))
        saturated = p99 is not None and p99 > target
        wait = 0.0
        if not saturated and batch_rows > 1 and a >= MIN_FIXED_COST_TO_HOLD:
            # The held call, then the call of those who came during it, fit in the target.
            room = target - 2 * self.cost.seconds(batch_rows)
            free = 1.0 if p99 is None else 1.0 - p99 / target
            worth = HOLD_PER_FIXED_COST * (a + CALL_OVERHEAD_SECONDS)
            wait = min(self._ceiling_wait, worth, max(0.0, room)) * free
        self.tuning = Tuning(self.slo_seconds, wait, batch_rows, p99, saturated)
        if now >= self._next_log and logger.isEnabledFor(logging.DEBUG):
            self._next_log = now + LOG_SECONDS
            logger.debug(
                "batching %s for p99 <= %.1f ms: hold up to %.2f ms for %d rows, measured p99 %s%s",
                self._ref,
                self.slo_seconds * 1000,
                wait * 1000,
                batch_rows,
                "-" if p99 is None else f"{p99 * 1000:.1f} ms",
                " (saturated: throughput first)" if saturated else "",
            )
        return self.tuning
