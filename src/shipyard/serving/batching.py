"""Adaptive micro-batching: one dispatcher per served model version.

A tree ensemble costs about as much for 100 rows as for 1, so a server calling ``predict``
once per request caps near 1/compute requests per second. Each ``ServedVersion`` gets a
``Batcher``: validated requests wait in a bounded queue, and one dispatcher task merges
what is waiting into one ``predict`` call on a bounded thread pool, then splits the outputs
back by row counts, in order.

The wait adapts: when the model is idle a request is dispatched at once; while a call runs,
requests accumulate and the next call takes them all (up to ``max_batch_rows``). Only when
the measured arrival gap says another request will come within a fraction of the model's
compute time does an idle dispatcher wait, and never longer than ``max_batch_wait_ms``.

Isolation: if a merged call raises, its requests are retried one at a time in the same
thread, so only the request whose rows break the model fails. A request cancelled or timed
out while queued is skipped; one cancelled during its call has its answer dropped.
Models that are not row-independent (Python classes) are never merged, only queued.

With a p99 target (``slo_p99_ms``), an ``SloTuner`` (``serving/slo.py``) chooses how many
rows a call is worth holding for and how long, from the measured cost of calls and p99 of
requests; the dispatcher may then hold a call also right after a busy one, never past the
wait the tuner chose for its oldest request. When holding is not worth it, an idle model
keeps the short adaptive wait above, unless p99 is already over the target. The rules
above (a lone request is not held, the queue is bounded, a failing call is retried one
request at a time) stay as they are.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from shipyard.config import Settings
from shipyard.errors import ModelError, Overloaded, ShipyardError, Unavailable
from shipyard.flavors.base import LoadedModel
from shipyard.schema.batch import Batch, Outputs
from shipyard.serving.events import BatchRecord
from shipyard.serving.slo import SloTuner, TunedBatchRecord

logger = logging.getLogger(__name__)

WAIT_FRACTION = 0.25
"""An idle dispatcher waits at most this fraction of a model call: a wait that could cost
more latency than it saves compute is not worth it."""
_ALPHA = 0.2
"""Weight of the newest sample in the moving averages of arrival gap and compute time."""
INLINE_COMPUTE_SECONDS = 0.0001
"""A row-independent model whose calls take less than this on average (a compiled linear
model: ~10 µs) runs small calls on the event loop itself: handing it to a thread and back
costs more than the call, and blocking the loop for well under a millisecond does not stop
it accepting. Measured in the calling thread's CPU time: on a pool thread, a call's wall
time also counts its wait for the GIL the busy event loop holds, which would keep a cheap
model off the loop (and paying those waits) for good."""
INLINE_WALL_SECONDS = 0.001
"""...and whose calls also take less than this in wall time: a model that waits (on its own
threads, on a remote service) costs its thread little CPU, yet must never hold the loop."""
INLINE_MAX_ROWS = 32


@dataclass(frozen=True)
class BatchPolicy:
    """How one model version's requests are queued and merged."""

    batching: bool = True
    max_batch_rows: int = 256
    max_wait_seconds: float = 0.005
    max_queue: int = 512
    concurrency: int = 4
    """Calls at once when requests are not merged (one merged call already fills a core)."""
    slo_seconds: float | None = None
    """A p99 target: the batcher tunes its batch size and wait online (``serving/slo.py``)."""

    @classmethod
    def from_settings(cls, settings: Settings, model: str) -> BatchPolicy:
        """The top-level settings, overridden by the ``[models.NAME]`` table for ``model``."""
        own = settings.models.get(model)

        def pick(name: str) -> Any:
            value = getattr(own, name) if own is not None else None
            return getattr(settings, name) if value is None else value

        return cls(
            batching=pick("batching"),
            max_batch_rows=pick("max_batch_rows"),
            max_wait_seconds=pick("max_batch_wait_ms") / 1000.0,
            max_queue=pick("max_queue"),
            concurrency=settings.inference_threads,
            slo_seconds=None if pick("slo_p99_ms") is None else pick("slo_p99_ms") / 1000.0,
        )


@dataclass(frozen=True)
class Answer:
    """One request's outputs and what its model call cost."""

    outputs: Outputs
    compute_seconds: float
    queue_seconds: float
    batch_requests: int
    """How many requests shared the model call (1 when alone)."""


@dataclass(eq=False)
class _Pending:
    batch: Batch
    key: Hashable
    future: asyncio.Future[Answer]
    enqueued: float


_Result = tuple[Outputs | ShipyardError, float]


class Batcher:
    """Queues one model version's requests and runs them, merged where allowed."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        ref: str,
        name: str,
        version: int,
        policy: BatchPolicy,
        executor: Executor,
        on_batch: Callable[[BatchRecord], None] = lambda record: None,
    ) -> None:
        self.ref = ref
        self.policy = policy
        self.last_wait_seconds = 0.0
        """The longest the dispatcher chose to hold its latest call for more rows (0: at once)."""
        self.batching = policy.batching and model.row_independent
        self._model = model
        self._name = name
        self._version = version
        self._executor = executor
        self._on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._rows_waiting = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(1 if self.batching else max(1, policy.concurrency))
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._retiring = False
        self._closed = False
        self._last_arrival: float | None = None
        self._last_gap: float | None = None
        self._mean_gap: float | None = None
        self._mean_compute: float | None = None
        self._mean_cpu: float | None = None
        self._mean_requests = 1.0
        self._tuner = (
            SloTuner(
                policy.slo_seconds, max_rows=policy.max_batch_rows, max_wait_seconds=policy.max_wait_seconds, ref=ref
            )
            if policy.slo_seconds is not None and self.batching
            else None
        )

    # -- the request side ----------------------------------------------------------------
    async def submit(self, batch: Batch) -> Answer:
        """Queue ``batch`` (already validated) and wait for its outputs."""
        if self._closed:
            raise Unavailable(f"model {self.ref} is shutting down", hint="retry on another server")
        if len(self._queue) >= self.policy.max_queue:
            self._drop_cancelled()
            if len(self._queue) >= self.policy.max_queue:
                raise Overloaded(
                    f"model {self.ref} has {len(self._queue)} requests waiting",
                    hint="retry after a short wait",
                    retry_after=self._retry_after(),
                )
        now = time.perf_counter()
        pending = _Pending(
            batch, _merge_key(batch) if self.batching else None, asyncio.get_running_loop().create_future(), now
        )
        self._queue.append(pending)
        self._rows_waiting += batch.n_rows
        self._note_arrival(now)
        self._wake.set()
        if self._task is None or self._task.done():
            # Also restarts a retired dispatcher for a request that resolved this version
            # just before an alias swap: it still runs here, then the dispatcher stops again.
            # A context of its own: the dispatcher serves every request, so its log lines (the
            # SLO tuner's among them) must not carry the request id of the one that started it.
            self._task = asyncio.get_running_loop().create_task(
                self._dispatch(), name=f"shipyard-batcher-{self.ref}", context=contextvars.Context()
            )
        # Cancelling the caller cancels this future; the dispatcher then skips or drops it.
        return await pending.future

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def active(self) -> bool:
        """Requests are queued or a call is running."""
        return bool(self._queue or self._calls or (self._task is not None and not self._task.done()))

    # -- lifecycle ------------------------------------------------------------------------
    def retire(self) -> None:
        """Stop once the queue is empty (after an alias swap: in-flight requests finish here)."""
        self._retiring = True
        self._wake.set()

    async def aclose(self, grace_seconds: float = 1.0) -> None:
        """Drain for up to ``grace_seconds``, then fail whatever is left with Unavailable."""
        self.retire()
        pending = {t for t in (self._task, *self._calls) if t is not None and not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)
        self._closed = True
        for task in (self._task, *self._calls):
            if task is not None and not task.done():
                task.cancel()
        self._fail(self._take_all(), "is shutting down")

    # -- the dispatcher -------------------------------------------------------------------
    async def _dispatch(self) -> None:
        try:
            while True:
                self._drop_cancelled()
                if not self._queue:
                    if self._retiring:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                was_idle = not self._slots.locked()
                await self._slots.acquire()
                try:
                    if self.batching and (was_idle or self._tuner is not None):
                        await self._gather(was_idle)
                    group = self._take()
                except BaseException:
                    self._slots.release()
                    raise
                if not group:
                    self._slots.release()
                    continue
                if self._runs_inline(group):
                    # On the loop, now: a task of its own would cost more than the call.
                    try:
                        self._run_inline(group)
                    finally:
                        self._slots.release()
                    continue
                call = asyncio.get_running_loop().create_task(self._call(group))
                self._calls.add(call)
                call.add_done_callback(self._call_done)
        except Exception:
            logger.exception("dispatcher of %s failed; failing its queued requests", self.ref)
            self._fail(self._take_all(), "could not run the request")

    async def _gather(self, idle: bool) -> None:
        """Wait briefly for more rows, only when arrivals are dense enough to pay off."""
        wait, enough = self._wait_budget(idle)
        self.last_wait_seconds = wait
        if wait <= 0:
            return
        deadline = time.perf_counter() + wait
        while self._rows_waiting < enough:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    def _wait_budget(self, idle: bool) -> tuple[float, int]:
        """How long to wait, and for how many rows."""
        if self.policy.max_wait_seconds <= 0 or self._mean_compute is None or self._mean_gap is None:
            return 0.0, 0
        # The latest gap counts too: after a quiet spell the average still says "busy".
        expected_gap = max(self._mean_gap, self._last_gap or 0.0)
        if self._tuner is not None and self._queue:
            tuning = self._tuner.tuning
            waited = time.perf_counter() - self._queue[0].enqueued
            held = self._tuner.hold_for(expected_gap, waited=waited, rows=self._rows_waiting)
            if held > 0 or not idle or tuning.saturated:
                return held, tuning.batch_rows
            # Not worth holding for: an idle model keeps the adaptive policy's short wait.
        budget = min(self.policy.max_wait_seconds, WAIT_FRACTION * self._mean_compute)
        return (budget if expected_gap < budget else 0.0), self.policy.max_batch_rows

    def _take(self) -> list[_Pending]:
        """The next call's requests: the head, then compatible ones in order while rows fit."""
        group: list[_Pending] = []
        skipped: list[_Pending] = []
        rows = 0
        while self._queue:
            item = self._queue.popleft()
            if item.future.done():
                self._rows_waiting -= item.batch.n_rows
                continue
            if group and item.key != group[0].key:
                skipped.append(item)
                continue
            if group and rows + item.batch.n_rows > self.policy.max_batch_rows:
                self._queue.appendleft(item)
                break
            group.append(item)
            rows += item.batch.n_rows
            self._rows_waiting -= item.batch.n_rows
            if not self.batching:
                break
        self._queue.extendleft(reversed(skipped))
        return group

    def _run_inline(self, group: list[_Pending]) -> None:
        live = [p for p in group if not p.future.done()]
        if live:
            started = time.perf_counter()
            self._settle(live, started, _run_group(self._model, self.ref, [p.batch for p in live]))

    async def _call(self, group: list[_Pending]) -> None:
        live = [p for p in group if not p.future.done()]
        if not live:
            return
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(
                self._executor, _run_group, self._model, self.ref, [p.batch for p in live]
            )
        except asyncio.CancelledError:
            self._fail(live, "is shutting down")
            raise
        except Exception as exc:  # the pool is shut down: the process is stopping
            logger.warning("cannot run %s: %s", self.ref, exc)
            self._fail(live, "is shutting down")
            return
        self._settle(live, started, outcome)

    def _settle(self, live: list[_Pending], started: float, outcome: _Outcome) -> None:
        """Answer each request of a finished call, then account for the call."""
        results, compute, isolated, cpu = outcome.results, outcome.compute, outcome.isolated, outcome.cpu
        failed = 0
        for pending, (result, own_compute) in zip(live, results, strict=True):
            if isinstance(result, ShipyardError):
                failed += 1
            if pending.future.done():
                continue  # cancelled or timed out during the call: the answer is dropped
            if isinstance(result, ShipyardError):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(Answer(result, own_compute, started - pending.enqueued, len(live)))
        self._mean_compute = _average(self._mean_compute, compute)
        self._mean_cpu = _average(self._mean_cpu, cpu)
        self._mean_requests = _ALPHA * len(live) + (1 - _ALPHA) * self._mean_requests
        rows = sum(p.batch.n_rows for p in live)
        if self._tuner is not None:
            self._tuner.observe(time.perf_counter(), rows, compute, (p.enqueued for p in live))
        self._on_batch(
            TunedBatchRecord(
                model=self._name,
                version=self._version,
                rows=rows,
                requests=len(live),
                queue_seconds=started - min(p.enqueued for p in live),
                compute_seconds=compute,
                failed=failed,
                isolated=isolated,
                tuning=None if self._tuner is None else self._tuner.tuning,
            )
        )

    def _runs_inline(self, live: list[_Pending]) -> bool:
        return (
            self._model.row_independent
            and self._mean_cpu is not None
            and self._mean_cpu < INLINE_COMPUTE_SECONDS
            and self._mean_compute is not None
            and self._mean_compute < INLINE_WALL_SECONDS
            and sum(p.batch.n_rows for p in live) <= INLINE_MAX_ROWS
        )

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("a call of %s failed", self.ref, exc_info=task.exception())

    # -- bookkeeping ----------------------------------------------------------------------
    def _note_arrival(self, now: float) -> None:
        if self._last_arrival is not None:
            self._last_gap = now - self._last_arrival
            self._mean_gap = _average(self._mean_gap, self._last_gap)
        self._last_arrival = now

    def _retry_after(self) -> int:
        """Seconds until the queue has likely drained, at least 1 (Retry-After is whole seconds)."""
        calls = len(self._queue) / max(self._mean_requests, 1.0)
        return max(1, min(60, math.ceil(calls * (self._mean_compute or 0.0))))

    def _drop_cancelled(self) -> None:
        if any(p.future.done() for p in self._queue):
            kept = deque(p for p in self._queue if not p.future.done())
            self._rows_waiting = sum(p.batch.n_rows for p in kept)
            self._queue = kept

    def _take_all(self) -> list[_Pending]:
        queued = list(self._queue)
        self._queue.clear()
        self._rows_waiting = 0
        return queued

    def _fail(self, items: list[_Pending], why: str) -> None:
        for pending in items:
            if not pending.future.done():
                pending.future.set_exception(Unavailable(f"model {self.ref} {why}", hint="retry later"))


def _average(mean: float | None, sample: float) -> float:
    return sample if mean is None else _ALPHA * sample + (1 - _ALPHA) * mean


def _merge_key(batch: Batch) -> Hashable:
    """Batches merge only when their arrays concatenate without a cast, so a merged call
    sees exactly the dtypes each request would have alone."""
    return batch.layout


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A finished model call: each request's outputs (or error), and what the call cost."""

    results: list[_Result]
    compute: float
    """Seconds of the call."""
    isolated: bool
    """A merged call failed and its requests ran alone."""
    cpu: float
    """CPU seconds of the calling thread."""


def _run_group(model: LoadedModel, ref: str, batches: list[Batch]) -> _Outcome:
    """In a pool thread, or inline on the loop: the call of ``batches``, merged when more than one."""
    t0 = time.perf_counter()
    cpu0 = time.thread_time()
    if len(batches) > 1:
        try:
            parts = split_outputs(model.predict(Batch.concat(batches)), [b.n_rows for b in batches])
        except Exception as exc:
            parts = None
            logger.warning("merged call of %s failed (%s); retrying its requests alone", ref, type(exc).__name__)
        if parts is not None:
            elapsed = time.perf_counter() - t0
            return _Outcome([(part, elapsed) for part in parts], elapsed, False, time.thread_time() - cpu0)
    results = [_predict_alone(model, ref, batch) for batch in batches]
    return _Outcome(results, time.perf_counter() - t0, len(batches) > 1, time.thread_time() - cpu0)


def _predict_alone(model: LoadedModel, ref: str, batch: Batch) -> _Result:
    t0 = time.perf_counter()
    try:
        outputs = model.predict(batch)
    except ShipyardError as exc:
        return exc, time.perf_counter() - t0
    except Exception as exc:
        # The exception's message may quote input values (personal data): log where it was
        # raised and its type, never its text (docs/governance.md, PII).
        logger.error(
            "model %s failed on a validated batch of %d rows: %s (message not logged)\n%s",
            ref,
            batch.n_rows,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        error = ModelError(f"model {ref} failed: {type(exc).__name__}")
        error.__cause__ = exc
        return error, time.perf_counter() - t0
    return outputs, time.perf_counter() - t0


def split_outputs(outputs: Outputs, sizes: list[int]) -> list[Outputs] | None:
    """Each request's rows of a merged answer (views, no copy); None when an output does
    not have one row per input row (then the requests run alone)."""
    total = sum(sizes)
    if any(array.ndim == 0 or array.shape[0] != total for array in outputs.values()):
        logger.warning("a merged answer does not have %d rows in every output", total)
        return None
    parts: list[Outputs] = []
    start = 0
    for size in sizes:
        parts.append({name: array[start : start + size] for name, array in outputs.items()})
        start += size
    return parts
