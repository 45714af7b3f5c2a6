"""Spill files: where records go when the memory cap is reached and the segments cannot keep up.

A ``Spiller`` owns a thread that encodes the records (or takes the frames a failed group
commit hands back) and appends them to ``predlog/spill/<writer>-<seq>.open``, sealed to
``.spill`` when it is idle or full, so the log's writer can replay it into segments once the
sink catches up (``PredictionLog``). Spill files on disk are bounded by ``log_spill_bytes``
(all processes' together, as this process counts them); past it records are dropped and
counted. Only ``batch`` mode spills: ``sync`` mode fails the request instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from shipyard.monitoring.predlog.codec import encode_frame
from shipyard.monitoring.predlog.record import encode_record
from shipyard.monitoring.predlog.segments import SPILLED, LogFile
from shipyard.serving.events import InferenceFailure, InferenceRecord

logger = logging.getLogger(__name__)

_IDLE_WAKE_SECONDS = 1.0
SPILL_FILE_BYTES = 4 * 1024**2
"""A spill file is sealed at this size (and whenever the spill queue runs empty)."""

Entry = tuple[InferenceRecord | InferenceFailure | bytes, int]
"""A record (or an already encoded payload) and the bytes it is accounted for in memory."""


class Spiller:
    def __init__(
        self,
        directory: Path,
        writer: str,
        *,
        max_bytes: int,
        idle_seconds: float,
        release: Callable[[int], None],
        count: Callable[[str, int], None],
        publish: Callable[[], None] = lambda: None,
        encode: Callable[[InferenceRecord | InferenceFailure], bytes] = encode_record,
    ) -> None:
        self.directory = directory
        self.encode = encode
        """Encodes a record (the writer's, with its PII marks applied)."""
        self._writer = writer
        self._max_bytes = max_bytes
        self._idle = idle_seconds
        self._release = release
        self._count = count
        self._publish = publish
        """Refreshes the log-health gauges: this thread keeps them current while the writer
        thread is stuck on a stalled disk."""
        self._queue: deque[Entry] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._file: LogFile | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._disk_bytes = 0
        self.sealed_pending = False
        """A sealed spill file may be waiting for replay."""

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        files = [p for p in self.directory.iterdir() if p.is_file()]
        with self._lock:
            self._disk_bytes = sum(p.stat().st_size for p in files)
        self.sealed_pending = any(p.name.endswith(SPILLED) for p in files)
        self._thread = threading.Thread(target=self._run, name="predlog-spill", daemon=True)
        self._thread.start()

    def put(self, entry: Entry) -> None:
        self._queue.append(entry)
        self._wake.set()

    def replayed(self, nbytes: int) -> None:
        """A spill file of ``nbytes`` was replayed into segments and deleted."""
        with self._lock:
            self._disk_bytes = max(self._disk_bytes - nbytes, 0)

    @property
    def disk_bytes(self) -> int:
        return self._disk_bytes

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        last_write = time.monotonic()
        while True:
            # Idle with no file open, wake seldom (the gauges stay fresh enough); with a file
            # open, often enough to seal it soon after the spilling stops.
            self._wake.wait(self._idle if self._file is not None else _IDLE_WAKE_SECONDS)
            self._wake.clear()
            if self._queue:
                self._drain()
                last_write = time.monotonic()
            elif self._file is not None and time.monotonic() - last_write >= self._idle:
                self._seal()
            self._publish()
            if self._stopping and not self._queue:
                self._seal()
                return

    def _drain(self) -> None:
        frames: list[bytes] = []
        accounted = 0
        while self._queue:
            item, size = self._queue.popleft()
            accounted += size
            try:
                payload = item if isinstance(item, bytes) else self.encode(item)
            except Exception:
                logger.exception("a prediction-log record could not be encoded; it is dropped")
                self._count("dropped", 1)
                continue
            frames.append(encode_frame(payload))
            if accounted >= SPILL_FILE_BYTES:
                break
        try:
            if frames:
                self._write(frames)
        finally:
            self._release(accounted)

    def _write(self, frames: list[bytes]) -> None:
        data = b"".join(frames)
        with self._lock:
            room = self._disk_bytes + len(data) <= self._max_bytes
            if room:
                self._disk_bytes += len(data)
        if not room:
            self._count("dropped", len(frames))
            return
        try:
            if self._file is None:
                self._file = LogFile(self.directory, f"{self._writer}-{self._seq:08d}", sealed_suffix=SPILLED)
                self._seq += 1
            self._file.append(data, len(frames))
        except OSError as exc:
            with self._lock:
                self._disk_bytes -= len(data)
            logger.warning("could not spill %d prediction-log record(s): %s; they are dropped", len(frames), exc)
            self._count("dropped", len(frames))
            self._seal()
            return
        self._count("spilled", len(frames))
        if self._file.size >= SPILL_FILE_BYTES:
            self._seal()

    def _seal(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            if file.seal() is not None:
                self.sealed_pending = True
        except OSError:
            logger.exception("could not seal spill file %s", file.path.name)
            file.abandon()
