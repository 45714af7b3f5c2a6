"""Recording audit events from a server without slowing requests down.

``record`` writes at once (the caller waits for the commit). ``submit`` hands the event to
one background thread through a bounded queue and returns at once; when the queue is full
the event is dropped and counted (``dropped``), never blocking a request. ``denied`` is for
authentication and authorisation failures, which an attacker can cause at will: per
(source, reason) at most ``denied_per_minute`` entries are written a minute, and the rest
become one summary entry ("N more suppressed") when the minute is over or at ``close``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.governance.chain import AuditEntry, AuditEvent
from shipyard.registry.sql.audit import AuditLog

logger = logging.getLogger(__name__)

DENIED_WINDOW_SECONDS = 60.0
_MAX_DENIED_KEYS = 10_000
_STOP = object()


class AuditRecorder:
    """The server's writer of audit entries (see the module docstring)."""

    def __init__(
        self,
        log: AuditLog,
        *,
        queue_size: int = 10_000,
        denied_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.dropped = 0
        self.denied_per_minute = denied_per_minute
        self._clock = clock
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        # (source, reason) → [window start, written in window, suppressed in window, action]
        self._denied: dict[tuple[str, str], list[Any]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def record(self, event: AuditEvent) -> AuditEntry:
        """Write ``event`` now, in its own transaction."""
        return self.log.append(event)

    def submit(self, event: AuditEvent) -> bool:
        """Queue ``event`` for the background writer; False (and counted) when the queue is full."""
        if self._closed:
            return False
        self._ensure_thread()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        return True

    def denied(
        self,
        *,
        actor: str,
        source: str,
        action: str,
        resource: str,
        reason: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """An authentication or authorisation failure, rate-limited per (source, reason)."""
        now = self._clock()
        summaries: list[AuditEvent] = []
        write = False
        with self._lock:
            summaries.extend(self._expired_windows(now))
            slot = self._denied.get((source, reason))
            if slot is None:
                if len(self._denied) >= _MAX_DENIED_KEYS:
                    self.dropped += 1
                    return
                slot = self._denied[(source, reason)] = [now, 0, 0, action]
            if slot[1] < self.denied_per_minute:
                slot[1] += 1
                write = True
            else:
                slot[2] += 1
        for summary in summaries:
            self.submit(summary)
        if write:
            self.submit(AuditEvent(actor, source, action, resource, "denied", reason, dict(details or {})))

    def _expired_windows(self, now: float) -> list[AuditEvent]:
        """Close the windows that are over; summaries for those that suppressed something."""
        out = []
        for (source, reason), slot in list(self._denied.items()):
            if now - slot[0] >= DENIED_WINDOW_SECONDS:
                del self._denied[(source, reason)]
                if slot[2]:
                    out.append(_summary(source, reason, slot[3], slot[2]))
        return out

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued event is written (or ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self, timeout: float = 10.0) -> None:
        """Write the pending summaries and queued events, then stop the writer thread."""
        with self._lock:
            summaries = [_summary(s, r, slot[3], slot[2]) for (s, r), slot in self._denied.items() if slot[2]]
            self._denied.clear()
        for summary in summaries:
            self.submit(summary)
        self._closed = True
        thread = self._thread
        if thread is not None:
            self.flush(timeout)
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                logger.warning("audit writer still busy at close; %d events may be lost", self._queue.qsize())
                return
            thread.join(timeout)
        if self.dropped:
            logger.warning("%d audit events were dropped (the audit queue was full)", self.dropped)

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="shipyard-audit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, AuditEvent)
                self.log.append(item)
            except ShipyardError as exc:
                logger.error("could not write an audit entry (%s): %s", getattr(item, "action", "?"), exc)
            finally:
                self._queue.task_done()


def _summary(source: str, reason: str, action: str, count: int) -> AuditEvent:
    return AuditEvent(
        "system", source, action, "*", "denied", f"{count} more suppressed",
        {"suppressed": count, "reason": reason, "window_seconds": DENIED_WINDOW_SECONDS},
    )  # fmt: skip
