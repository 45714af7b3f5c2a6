"""Shadows and mirrors: copies of a deployment's requests, computed off the request path.

An ``InferenceObserver``. After a deployment's variant has answered (the response is
already on its way), the request's validated rows and the answer are offered here:

- every **shadow** the split samples for the request gets a copy; its answer is compared
  with the answer returned and recorded (kind ``shadow``), never returned;
- a **canary**'s request under analysis is also computed on the **primary** (a share
  ``analysis.mirror`` of them), and the canary's answer is compared with the primary's
  (kind ``mirror``): the agreement gate.

Nothing here can touch the response, its status or its latency beyond noise:

- offering is a ``put_nowait`` on a bounded queue; when it is full the copy is dropped
  and counted (``dropped`` in the windows, ``shipyard_shadow_requests{result="dropped"}``);
- the calls run on a thread pool of their own (``shadow_threads``), never the inference
  pool, so a slow shadow cannot take a thread a primary request needs;
- each call has a deadline; a shadow stuck past it is counted as an error, and its thread
  is not handed more work until it returns (a semaphore over the pool's threads), so the
  pool's own queue never grows: the bounded queue fills and copies are dropped instead;
- a shadow that raises is an error in its window, logged at most once a minute.

Shadow calls go straight to the model (``LoadedModel.predict``), not through the version's
batcher (which belongs to the answering path). Copies waiting for the same variant are
merged into one call (up to ``MAX_GROUP_ROWS`` rows, row-independent models only), as the
batcher does: for a model that computes in microseconds, handing each copy to a thread
would cost a hundred times the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.rollout.compare import DEFAULT_TOLERANCE, compare
from shipyard.schema.batch import Batch, Outputs
from shipyard.serving.batching import split_outputs
from shipyard.serving.deployments import ServedDeployment
from shipyard.serving.events import InferenceFailure, InferenceRecord, ShadowObserver, ShadowRecord, notify_shadow
from shipyard.serving.manager import ServedVersion
from shipyard.serving.telemetry import RolloutTelemetry

logger = logging.getLogger(__name__)
_LOG_EVERY = 60.0
MAX_GROUP_ROWS = 1024
"""Most rows merged into one shadow call."""


@dataclass(frozen=True)
class _Job:
    deployment: ServedDeployment
    record: InferenceRecord
    targets: tuple[tuple[str, str], ...]
    """(variant to compute, kind): ("shadowed", "shadow") or (primary, "mirror")."""


class ShadowDispatcher:
    """Queues copies of deployment requests and computes them on threads of their own."""

    def __init__(
        self,
        deployments: Callable[[str], ServedDeployment | None],
        telemetry: RolloutTelemetry,
        *,
        threads: int = 1,
        queue_size: int = 256,
        timeout_seconds: float = 10.0,
        observers: Sequence[ShadowObserver] = (),
    ) -> None:
        """``deployments(name)``: the served deployment (the model manager's lookup)."""
        self._deployments = deployments
        self._telemetry = telemetry
        self._threads = max(1, threads)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=max(1, queue_size))
        self._timeout = timeout_seconds
        self._observers = tuple(observers)
        self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="shipyard-shadow")
        self._free: asyncio.Semaphore | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_log: dict[str, float] = {}

    # -- offering (the observer side: on the event loop, never blocking) -----------------------
    def on_inference(self, record: InferenceRecord) -> None:
        name = record.deployment
        if name is None or record.variant is None:
            return
        deployment = self._deployments(name)
        if deployment is None:
            return
        targets = [(variant, "shadow") for variant in deployment.splitter.shadows_for(record.request_id)]
        analysis = deployment.spec.analysis
        primary = deployment.spec.primary
        if (
            analysis is not None
            and primary is not None
            and record.variant in deployment.spec.canaries
            and analysis.mirror > 0
            and (analysis.mirror >= 1 or random.random() < analysis.mirror)
        ):
            targets.append((primary, "mirror"))
        if not targets:
            return
        try:
            self._queue.put_nowait(_Job(deployment, record, tuple(targets)))
        except asyncio.QueueFull:
            for variant, kind in targets:
                tracked = variant if kind == "shadow" else record.variant
                self._telemetry.on_dropped(name, deployment.revision, tracked, kind)
                self._notify(name, tracked, kind, "dropped", 0.0)

    def on_failure(self, failure: InferenceFailure) -> None:
        """A failed request has no answer to compare with: nothing to copy."""

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._tasks:
            return
        self._free = asyncio.Semaphore(self._threads)
        self._tasks = [asyncio.create_task(self._consume(), name=f"shipyard-shadow-{i}") for i in range(self._threads)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- computing -----------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            rows = jobs[0].record.rows
            while rows < MAX_GROUP_ROWS and not self._queue.empty():
                job = self._queue.get_nowait()
                jobs.append(job)
                rows += job.record.rows
            # (deployment, revision, variant, kind) -> the jobs that need that call
            groups: dict[tuple[str, int, str, str], list[_Job]] = {}
            for job in jobs:
                for variant, kind in job.targets:
                    groups.setdefault((job.deployment.name, job.deployment.revision, variant, kind), []).append(job)
            for (_, _, variant, kind), group in groups.items():
                try:
                    await self._run(group, variant, kind)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("shadow copy failed; serving is unaffected")

    async def _run(self, jobs: list[_Job], variant: str, kind: str) -> None:
        """One model call for ``jobs`` (merged when the model allows), each compared."""
        deployment = jobs[0].deployment
        served: ServedVersion | None = deployment.slots[variant].current if variant in deployment.slots else None
        if served is None:
            return
        if len(jobs) > 1 and not served.model.row_independent:
            for job in jobs:
                await self._run([job], variant, kind)
            return
        batches = [job.record.batch for job in jobs]
        t0 = time.perf_counter()
        outputs, result = await self._call(served, batches)
        seconds = time.perf_counter() - t0
        if result != "ok":
            self._log(deployment.name, variant, result)
            result = "timeout" if result.startswith("did not answer") else "error"
        parts = split_outputs(outputs, [b.n_rows for b in batches]) if outputs is not None else None
        share = seconds / len(jobs)
        for i, job in enumerate(jobs):
            answer = parts[i] if parts is not None else None
            outcome = result if answer is not None or result != "ok" else "error"  # "ok" but unsplittable
            self._record(job, variant, kind, outputs=answer, seconds=share, result=outcome)

    async def _call(self, served: ServedVersion, batches: list[Batch]) -> tuple[Outputs | None, str]:
        """``served``'s answer to ``batches`` merged, on a shadow thread, within the deadline:
        ``(outputs, "ok")`` or ``(None, what went wrong)``."""
        free = self._free
        assert free is not None
        await free.acquire()
        loop = asyncio.get_running_loop()
        try:
            batch = Batch.concat(batches)
        except Exception as exc:  # layouts that do not merge: a bug, not the caller's problem
            free.release()
            return None, f"cannot merge copies: {type(exc).__name__}: {exc}"[:300]
        future = loop.run_in_executor(self._pool, served.model.predict, batch)
        # The thread is free again only when the call returns, whatever the deadline says.
        future.add_done_callback(lambda _: free.release())
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout), "ok"
        except TimeoutError:
            return None, f"did not answer within {self._timeout:g}s"
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]

    def _record(
        self, job: _Job, variant: str, kind: str, *, outputs: Outputs | None, seconds: float, result: str
    ) -> None:
        record, deployment = job.record, job.deployment
        tracked = variant if kind == "shadow" else (record.variant or variant)
        comparison = None
        tolerance = deployment.spec.analysis.agreement_tolerance if deployment.spec.analysis else DEFAULT_TOLERANCE
        if outputs is not None:
            if kind == "shadow":
                comparison = compare(record.outputs, outputs, tolerance=tolerance)
            else:  # mirror: the primary's answer is the reference for the canary's
                comparison = compare(outputs, record.outputs, tolerance=tolerance)
        latency_delta = seconds - record.compute_seconds if kind == "shadow" else record.compute_seconds - seconds
        self._telemetry.on_compared(
            deployment.name,
            deployment.revision,
            tracked,
            kind,
            seconds=seconds,
            outputs=outputs,
            comparison=comparison,
            latency_delta=latency_delta,
            rows=record.rows,
        )
        self._notify(deployment.name, tracked, kind, result, seconds)

    def _notify(self, deployment: str, variant: str, kind: str, result: str, seconds: float) -> None:
        if self._observers:
            notify_shadow(self._observers, ShadowRecord(deployment, variant, kind, result, seconds))

    def _log(self, deployment: str, variant: str, message: str) -> None:
        key = f"{deployment}/{variant}"
        now = time.monotonic()
        if now - self._last_log.get(key, -_LOG_EVERY) >= _LOG_EVERY:
            self._last_log[key] = now
            logger.warning("shadow %s of deployment %s failed (the response was not affected): %s",
                           variant, deployment, message)  # fmt: skip
