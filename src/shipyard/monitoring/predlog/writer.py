"""``PredictionLog``: the inference observer that writes the prediction log.

On the event loop it does O(1) work per request: the sampling decision, the record's rough
size (its arrays' ``nbytes``), one append to a queue. A writer thread encodes the records
(``record.py``), appends them to the current segment and fsyncs: one group commit every
``log_flush_ms`` in ``batch`` mode; in ``sync`` mode as soon as records wait, each request
answered only when its commit is done (``on_inference`` returns the future the data plane
awaits).

Memory is bounded by ``log_memory_bytes``: past three quarters of it (``spill``) records
go to the spill thread (``spill.py``), which writes them to spill files up to
``log_spill_bytes``; past the cap, or with ``log_overflow = drop``, they are dropped and
counted. A failed write (a full or broken disk) is retried with backoff; its records spill or
drop alike. In ``sync`` mode nothing is dropped silently: a record that cannot be queued or
written fails its request (503). Spill files are replayed into segments when the writer is
healthy and idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config import Settings
from shipyard.errors import StorageError
from shipyard.fs.durable import fsync_dir
from shipyard.monitoring.predlog.codec import encode_frame, iter_frames
from shipyard.monitoring.predlog.record import Privacy, approx_bytes, encode_record
from shipyard.monitoring.predlog.sampling import Sampler
from shipyard.monitoring.predlog.segments import (
    SPILLED,
    LogFile,
    Recovery,
    lock_for_replay,
    read_locked,
    recover,
    writer_name,
)
from shipyard.monitoring.predlog.spill import Spiller
from shipyard.serving.events import InferenceFailure, InferenceRecord

if TYPE_CHECKING:
    from shipyard.monitoring.metrics import ServingMetrics

logger = logging.getLogger(__name__)

OUTCOMES = ("written", "spilled", "replayed", "dropped", "sampled_out", "failed")
_MAX_BACKOFF = 2.0
_REPLAY_CHUNK = 1024**2


class _Pending:
    __slots__ = ("future", "item", "queued_at", "size")

    def __init__(
        self, item: InferenceRecord | InferenceFailure, size: int, future: asyncio.Future[None] | None
    ) -> None:
        self.item = item
        self.size = size
        self.future = future
        self.queued_at = time.monotonic()


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class PredictionLog:
    """The prediction log's writer for this process (one per server process)."""

    def __init__(
        self,
        root: Path,
        *,
        mode: str = "batch",
        flush_ms: float = 20.0,
        memory_bytes: int = 64 * 1024**2,
        overflow: str = "spill",
        spill_bytes: int = 1024**3,
        segment_bytes: int = 64 * 1024**2,
        seal_seconds: float = 60.0,
        sampler: Sampler | None = None,
        metrics: ServingMetrics | None = None,
        privacy: Privacy | None = None,
    ) -> None:
        if mode not in ("batch", "sync"):
            raise ValueError(f"a prediction log runs in batch or sync mode, not {mode!r}")
        self.root = root
        self.segments_dir = root / "segments"
        self.spill_dir = root / "spill"
        self.mode = mode
        self.sync = mode == "sync"
        self._flush = flush_ms / 1000.0
        self._cap = memory_bytes
        self._spilling = overflow == "spill" and not self.sync
        # Spill mode keeps a quarter of the cap for records on their way to spill files.
        self._queue_cap = memory_bytes * 3 // 4 if self._spilling else memory_bytes
        self._segment_bytes = segment_bytes
        self._seal_seconds = seal_seconds
        self._sampler = sampler or Sampler({})
        self.name = writer_name()
        self._queue: deque[_Pending] = deque()
        # Bytes held: added only on the event loop, released only by the threads (through
        # _release, under a lock); the difference is what memory holds.
        self._added = 0
        self._released = 0
        self._release_lock = threading.Lock()
        self.peak_bytes = 0
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._count_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._segment: LogFile | None = None
        self._seq = 0
        self._retry_at = 0.0
        self._backoff = 0.0
        self.recovery = Recovery()
        # CPU accounting (``_cpu_charges``): requests offered (on the loop), and marks of the
        # last commit (the writer thread).
        self._offered = 0
        self._offered_mark = 0
        self._cpu_mark = time.process_time()
        self._metrics = metrics
        self._counters: dict[str, Any] = {}
        if metrics is not None:
            self._counters = {o: metrics.log_records.labels(o) for o in OUTCOMES}
        self._spiller = Spiller(
            self.spill_dir,
            self.name,
            max_bytes=spill_bytes,
            idle_seconds=max(self._flush, 0.05),
            release=self._release,
            count=self._count,
            publish=self._publish,
            encode=self._encode,
        )
        self.privacy = privacy
        """PII marks and key applied to every record before it is encoded (``use_privacy``)."""

    @classmethod
    def from_settings(cls, settings: Settings, metrics: ServingMetrics | None = None) -> PredictionLog:
        return cls(
            settings.home / "predlog",
            mode=settings.log_mode,
            flush_ms=settings.log_flush_ms,
            memory_bytes=settings.log_memory_bytes,
            overflow=settings.log_overflow,
            spill_bytes=settings.log_spill_bytes,
            segment_bytes=settings.log_segment_bytes,
            seal_seconds=settings.log_compact_seconds,
            sampler=Sampler.parse(settings.log_sample),
            metrics=metrics,
        )

    def use_privacy(self, privacy: Privacy | None) -> None:
        """Apply ``privacy`` (the targets' PII marks, the HMAC key) to every record encoded
        from now on, in segments and spill files alike."""
        self.privacy = privacy

    def _encode(self, item: InferenceRecord | InferenceFailure, cpu_ms: float | None = None) -> bytes:
        return encode_record(item, cpu_ms, self.privacy)

    # -- life cycle --------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Recover dead writers' files (cut torn tails, seal), then start the threads. Call on
        the event loop that serves requests (``sync`` mode settles its futures there)."""
        self._loop = loop or asyncio.get_running_loop()
        self.segments_dir.mkdir(parents=True, exist_ok=True)
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self.recovery = recover(self.segments_dir)
        spill_recovery = recover(self.spill_dir, sealed_suffix=SPILLED)
        self.recovery.cut_bytes += spill_recovery.cut_bytes
        self._spiller.start()
        self._thread = threading.Thread(target=self._run, name="predlog-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Write what is queued, seal the current segment and stop the threads."""
        await asyncio.to_thread(self.stop)

    def stop(self) -> None:
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._spiller.stop()
        self._closed = True
        self._publish()

    # -- the event loop's side: O(1) per record ----------------------------------------------

    @property
    def waits_for_durability(self) -> bool:
        """In ``sync`` mode the data plane waits for the future ``on_inference`` returns
        before the other observers hear of the record (``serving/dataplane``)."""
        return self.sync

    def on_inference(self, record: InferenceRecord) -> asyncio.Future[None] | None:
        self._offered += 1
        if not self._sampler.everything and not self._sampler.keep(
            record.deployment or record.model, record.request_id
        ):
            self._count("sampled_out", 1)
            return None
        return self._enqueue(record, approx_bytes(record))

    def on_failure(self, failure: InferenceFailure) -> None:
        self._offered += 1
        if not self._sampler.everything and not self._sampler.keep(
            failure.deployment or failure.model, failure.request_id
        ):
            self._count("sampled_out", 1)
            return
        future = self._enqueue(failure, approx_bytes(failure))
        if future is not None:
            # Nobody waits for a failure's record: do not leave an exception unretrieved.
            future.add_done_callback(_ignore_result)

    def _enqueue(self, item: InferenceRecord | InferenceFailure, size: int) -> asyncio.Future[None] | None:
        held = self._added - self._released
        if not self._closing and held + size <= self._queue_cap:
            future = self._loop.create_future() if self.sync and self._loop is not None else None
            self._queue.append(_Pending(item, size, future))
            self._added += size
            self.peak_bytes = max(self.peak_bytes, held + size)
            if self.sync or held + size > self._queue_cap // 2:
                self._wake.set()
            return future
        if self.sync:
            self._count("failed", 1)
            error = StorageError(
                "the prediction log is full or closed: this prediction cannot be logged durably",
                hint="retry later",
            )
            assert self._loop is not None
            future = self._loop.create_future()
            future.set_exception(error)
            return future
        if self._spilling and not self._closing and held + size <= self._cap:
            self._added += size
            self.peak_bytes = max(self.peak_bytes, held + size)
            self._spiller.put((item, size))
            return None
        self._count("dropped", 1)
        return None

    # -- shared ------------------------------------------------------------------------------

    def _release(self, nbytes: int) -> None:
        with self._release_lock:
            self._released += nbytes

    def _count(self, outcome: str, n: int) -> None:
        with self._count_lock:
            self.counts[outcome] += n
        counter = self._counters.get(outcome)
        if counter is not None:
            counter.inc(n)

    @property
    def queued_bytes(self) -> int:
        return self._added - self._released

    def _publish(self) -> None:
        if self._metrics is None:
            return
        self._metrics.log_queue_bytes.set(self.queued_bytes)
        self._metrics.log_queue_peak_bytes.set(self.peak_bytes)
        try:
            oldest = self._queue[0].queued_at
        except IndexError:
            lag = 0.0
        else:
            lag = max(time.monotonic() - oldest, 0.0)
        self._metrics.log_lag_seconds.set(lag)

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        next_commit = time.monotonic() + self._flush
        while True:
            if self.sync:
                if not self._queue:
                    self._wake.wait(0.25)
            else:
                delay = next_commit - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
            self._wake.clear()
            next_commit = time.monotonic() + self._flush
            closing = self._closing
            try:
                if self._queue:
                    self._commit()
                self._maybe_seal()
                if not self._queue and self._healthy() and self._spiller.sealed_pending:
                    self._replay_one()
            except Exception:
                logger.exception("the prediction log's writer failed; it goes on")
            self._publish()
            if closing and not self._queue:
                break
        self._close_segment()

    def _healthy(self) -> bool:
        return time.monotonic() >= self._retry_at

    def _commit(self) -> None:
        batch: list[_Pending] = []
        taken = 0
        while self._queue and taken < max(self._queue_cap // 2, 1):
            pending = self._queue.popleft()
            batch.append(pending)
            taken += pending.size
        futures = [p.future for p in batch if p.future is not None]
        if not self._healthy() and not self._closing:
            self._fail(batch, futures, None, "the prediction log's disk is failing")
            return
        payloads: list[bytes] = []
        kept: list[_Pending] = []
        charges = self._cpu_charges(batch)
        for pending, cpu_ms in zip(batch, charges, strict=True):
            try:
                payloads.append(self._encode(pending.item, cpu_ms))
                kept.append(pending)
            except Exception:
                logger.exception("a prediction-log record could not be encoded; it is dropped")
                self._count("failed" if pending.future is not None else "dropped", 1)
                if pending.future is not None:
                    self._settle([pending.future], StorageError("the prediction could not be encoded for the log"))
                self._release(pending.size)
        if not kept:
            return
        data = b"".join(encode_frame(p) for p in payloads)
        started = time.perf_counter()
        try:
            self._append(data, len(payloads))
        except OSError as exc:
            self._failed_write(exc)
            self._fail(kept, [p.future for p in kept if p.future is not None], payloads, str(exc))
            return
        if self._metrics is not None:
            self._metrics.log_fsync_seconds.observe(time.perf_counter() - started)
        self._backoff = 0.0
        self._count("written", len(kept))
        self._release(sum(p.size for p in kept))
        if futures:
            self._settle(futures, None)

    def _cpu_charges(self, batch: list[_Pending]) -> list[float]:
        """The worker's CPU time since the last commit, charged to the records of this one.

        Each record gets a share in proportion to its time in the data plane; when sampling
        left requests out, only the logged share of the CPU is charged, so a window's CPU per
        logged prediction estimates the CPU per prediction. Everything this process spent
        (HTTP, validation, the model, the log itself) is charged: a worker's CPU has no other
        purpose. See docs/monitoring.md, "Cost".
        """
        now = time.process_time()
        spent, self._cpu_mark = max(now - self._cpu_mark, 0.0), now
        offered, self._offered_mark = self._offered - self._offered_mark, self._offered
        weights = [max(p.item.duration_seconds, 1e-6) for p in batch]
        total = sum(weights)
        logged_share = 1.0 if self._sampler.everything or offered <= 0 else min(len(batch) / offered, 1.0)
        return [spent * 1000.0 * logged_share * w / total for w in weights]

    def _fail(
        self, batch: list[_Pending], futures: list[asyncio.Future[None]], payloads: list[bytes] | None, why: str
    ) -> None:
        """Records that could not be written: fail their requests (sync), spill or drop them."""
        if futures:
            self._count("failed", len(futures))
            self._settle(
                futures, StorageError(f"the prediction could not be logged durably: {why}", hint="retry later")
            )
            self._release(sum(p.size for p in batch if p.future is not None))
            batch = [p for p in batch if p.future is None]
            if payloads is not None:
                payloads = None  # re-encode the remaining ones on the spill thread
        if not batch:
            return
        if self._spilling:
            for i, pending in enumerate(batch):
                entry = payloads[i] if payloads is not None else pending.item
                self._spiller.put((entry, pending.size))
            return
        self._count("dropped", len(batch))
        self._release(sum(p.size for p in batch))

    def _failed_write(self, exc: OSError) -> None:
        self._backoff = min(max(self._backoff * 2, 0.05), _MAX_BACKOFF)
        self._retry_at = time.monotonic() + self._backoff
        logger.warning("the prediction log could not write a segment (%s); retrying in %.2fs", exc, self._backoff)
        self._close_segment()

    def _settle(self, futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # The loop may close in between: then nobody waits any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, futures, error)

    def _append(self, data: bytes, frames: int) -> None:
        if self._segment is None:
            self._segment = LogFile(self.segments_dir, f"{self.name}-{self._seq:08d}")
            self._seq += 1
        self._segment.append(data, frames)
        if self._segment.size >= self._segment_bytes:
            self._close_segment()

    def _maybe_seal(self) -> None:
        segment = self._segment
        if segment is not None and not segment.empty and time.monotonic() - segment.created >= self._seal_seconds:
            self._close_segment()

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        try:
            segment.seal()
        except OSError:
            logger.exception("could not seal segment %s; recovery will", segment.path.name)
            segment.abandon()

    def _replay_one(self) -> None:
        """Move one spill file's records into segments (at least once: a crash in between
        replays it again)."""
        paths = sorted(self.spill_dir.glob(f"*{SPILLED}"))
        if not paths:
            self._spiller.sealed_pending = False
            return
        for path in paths:
            fd = lock_for_replay(path)
            if fd is None:
                continue
            try:
                data = read_locked(fd)
                chunk: list[bytes] = []
                chunk_bytes = 0
                total = 0
                for _offset, payload in iter_frames(data):
                    frame = encode_frame(payload)
                    chunk.append(frame)
                    chunk_bytes += len(frame)
                    if chunk_bytes >= _REPLAY_CHUNK:
                        self._append(b"".join(chunk), len(chunk))
                        total += len(chunk)
                        chunk, chunk_bytes = [], 0
                if chunk:
                    self._append(b"".join(chunk), len(chunk))
                    total += len(chunk)
                path.unlink()
                fsync_dir(self.spill_dir)
            except OSError as exc:
                self._failed_write(exc)
                return
            finally:
                os.close(fd)
            self._spiller.replayed(len(data))
            self._count("replayed", total)
            return

    def stats(self) -> dict[str, Any]:
        """Counts and sizes, for tests and ``shipyard`` status output."""
        with self._count_lock:
            counts = dict(self.counts)
        return {
            **counts,
            "queued_bytes": self.queued_bytes,
            "peak_bytes": self.peak_bytes,
            "spill_disk_bytes": self._spiller.disk_bytes,
            "mode": self.mode,
        }


def _ignore_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
