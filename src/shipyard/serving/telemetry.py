"""Per-worker rollout telemetry: what each deployment's variants did, written to the registry.

An ``InferenceObserver``: every answer of a deployment adds to a ``VariantWindow`` of its
(deployment, variant, second); a server-side failure (5xx) counts as an error of the
variant that was chosen; client faults (4xx) count nowhere, a bad request says nothing
about a model. The shadow dispatcher adds the shadows' and mirrors' comparisons here too.

Every ``flush_seconds`` the windows are written to ``rollout_windows`` on a thread (never
on the event loop), one row per (deployment, variant, kind, second) for this worker:
seconds still open are rewritten at the next flush, closed ones are written once more and
forgotten. So every worker's traffic reaches the analysis within about two flushes, and a
worker that dies loses at most its last flush. For deployments whose outcomes are measured
(an experiment, or an outcome gate) the request ids and the variant that answered them are
written too. Memory is bounded: past ``max_windows`` open windows or ``max_assignments``
pending assignments, new ones are dropped and counted (``dropped``) rather than queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

from shipyard.errors import ShipyardError
from shipyard.registry.sql.rollouts import Assignment, RolloutStore, WindowRow
from shipyard.rollout.compare import Comparison, prediction_of
from shipyard.rollout.window import VariantWindow
from shipyard.schema.batch import Outputs
from shipyard.serving.events import InferenceFailure, InferenceRecord
from shipyard.serving.periodic import Periodic

logger = logging.getLogger(__name__)

RETENTION_SECONDS = 7 * 24 * 3600
"""Windows older than this are pruned (status pages and analyses look back minutes)."""
_PRUNE_EVERY = 3600.0
_MAX_REQUEST_ID = 128

Key = tuple[str, int, str, str, int]
"""(deployment, revision, variant, kind, second)"""


def worker_name() -> str:
    """This process's name in the windows table: host, pid and a random suffix (a pid is
    reused across restarts and containers)."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(3)}"


class RolloutTelemetry:
    """Collects deployment windows and assignments in memory; ``run`` flushes them."""

    def __init__(
        self,
        store: RolloutStore,
        *,
        measured: Callable[[str], bool] = lambda name: False,
        flush_seconds: float = 1.0,
        max_windows: int = 20_000,
        max_assignments: int = 100_000,
        worker: str | None = None,
    ) -> None:
        """``measured(deployment)``: whether its request ids must be kept (for outcomes)."""
        self._store = store
        self._measured = measured
        self._max_windows = max_windows
        self._max_assignments = max_assignments
        self.worker = worker or worker_name()
        self._windows: dict[Key, VariantWindow] = {}
        self._assignments: list[Assignment] = []
        self.dropped = 0
        self._periodic = Periodic("rollout telemetry flush", flush_seconds, self.flush)
        self._last_prune = 0.0
        self._flushing = asyncio.Lock()

    # -- recording (on the event loop: cheap, never blocking) ---------------------------------
    def window(self, deployment: str, revision: int, variant: str, kind: str, second: int) -> VariantWindow | None:
        key = (deployment, revision, variant, kind, second)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_windows:
                self.dropped += 1
                return None
            window = self._windows[key] = VariantWindow()
        return window

    def on_inference(self, record: InferenceRecord) -> None:
        deployment, variant = record.deployment, record.variant
        if deployment is None or variant is None:
            return
        revision = record.revision or 0
        window = self.window(deployment, revision, variant, "served", int(record.started_at))
        if window is not None:
            window.add_request(record.duration_seconds, record.rows, prediction_of(record.outputs))
        if self._measured(deployment) and len(record.request_id) <= _MAX_REQUEST_ID:
            if len(self._assignments) >= self._max_assignments:
                self.dropped += 1
                return
            at = datetime.fromtimestamp(record.started_at, UTC)
            self._assignments.append(Assignment(deployment, record.request_id, revision, variant, at))

    def on_failure(self, failure: InferenceFailure) -> None:
        if failure.deployment is None or failure.variant is None or failure.status < 500:
            return
        second = int(time.time() - failure.duration_seconds)
        window = self.window(failure.deployment, failure.revision or 0, failure.variant, "served", second)
        if window is not None:
            window.add_error(failure.duration_seconds)

    def on_compared(
        self,
        deployment: str,
        revision: int,
        variant: str,
        kind: str,
        *,
        seconds: float,
        outputs: Outputs | None,
        comparison: Comparison | None,
        latency_delta: float,
        rows: int,
    ) -> None:
        """A shadow's (or a mirrored primary's) answer, compared with the one returned.
        ``outputs`` None: the call failed (an error of ``variant``'s ``kind`` window)."""
        window = self.window(deployment, revision, variant, kind, int(time.time()))
        if window is None:
            return
        if outputs is None:
            window.add_error(seconds)
            return
        if kind == "shadow":
            window.add_request(seconds, rows, prediction_of(outputs))
        if comparison is not None:
            window.add_comparison(
                comparison.rows, comparison.agreed, comparison.delta_sum, comparison.delta_abs_sum, latency_delta
            )

    def on_dropped(self, deployment: str, revision: int, variant: str, kind: str) -> None:
        window = self.window(deployment, revision, variant, kind, int(time.time()))
        if window is not None:
            window.dropped += 1

    # -- flushing --------------------------------------------------------------------------
    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        """Stop the flusher and write what is left."""
        await self._periodic.stop()
        with contextlib.suppress(Exception):
            await self.flush(final=True)

    async def flush(self, *, final: bool = False) -> None:
        """Write every window and assignment collected so far (on a thread)."""
        async with self._flushing:
            now = int(time.time())
            snapshot = {key: window.copy() for key, window in self._windows.items()}
            rows = [WindowRow(*key, window) for key, window in snapshot.items()]
            closed = [key for key in snapshot if final or key[4] < now - 1]
            assignments, self._assignments = self._assignments, []
            if not rows and not assignments:
                return
            prune = time.monotonic() - self._last_prune > _PRUNE_EVERY
            try:
                await asyncio.to_thread(self._write, rows, assignments, prune)
            except ShipyardError:
                # Kept for the next flush (bounded by max_windows / max_assignments).
                room = self._max_assignments - len(self._assignments)
                self._assignments[:0] = assignments[: max(room, 0)]
                raise
            if prune:
                self._last_prune = time.monotonic()
            for key in closed:
                window = self._windows.get(key)
                # A closed second can still get a late shadow result: keep it if it grew.
                if window is not None and window.to_dict() == snapshot[key].to_dict():
                    del self._windows[key]

    def _write(self, rows: list[WindowRow], assignments: list[Assignment], prune: bool) -> None:
        self._store.write_windows(self.worker, rows)
        self._store.record_assignments(assignments)
        if prune:
            self._store.prune(before=time.time() - RETENTION_SECONDS)
