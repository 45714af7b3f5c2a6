"""Compaction: sealed segments → Parquet, partitioned by target and day.

``Compactor(home).run_once()`` turns every sealed ``.seg`` file into Parquet parts under
``predlog/parquet/target=<target>/day=YYYY-MM-DD/<segment stem>.parquet`` (one row per
prediction row, the shape of ``table.py``), then deletes the segment. Each part is written
to a hidden temporary file, fsynced, renamed into place and its directory fsynced; the
segment is deleted only after all its parts are durable. A crash at any point leaves the
segment in place (its parts, if any, are invisible to readers: ``files.py``) and the next
run writes the same part names again, so a run is idempotent.

Rows are written in row groups of ``row_group_rows`` rows, each sorted by request id, so
a lookup by request id reads only the row groups whose statistics admit it (``lookup.py``).

One compactor at a time across processes: a run takes ``predlog/compact.lock``
(``fcntl.flock``, non-blocking) and does nothing when another process holds it.
``CompactionTask`` runs it every ``log_compact_seconds`` in a server, on a thread.

Rows of a pending erasure (``erased.py``) are left out of the parts (``erased`` counts
them); without the PII key the erasures were hashed with, sealed segments are kept as they
are until a compactor that has it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.fs.durable import fsync_dir
from shipyard.fs.locks import held_exclusively
from shipyard.fs.pii_key import existing_pii_key
from shipyard.monitoring.predlog import erased as erasures
from shipyard.monitoring.predlog.files import (
    PARQUET,
    SEALED_SUFFIX,
    SegmentVanished,
    list_segments,
    log_dir,
    read_payloads,
    target_dir_name,
)
from shipyard.monitoring.predlog.table import payloads_table
from shipyard.serving.periodic import Periodic

logger = logging.getLogger(__name__)

ROW_GROUP_ROWS = 8192
LOCK_NAME = erasures.COMPACT_LOCK


@dataclass(frozen=True)
class CompactionResult:
    """What one run did: segments compacted, rows and parts written, time taken; ``locked``
    when another process was compacting (nothing was done)."""

    segments: int = 0
    rows: int = 0
    parts: int = 0
    seconds: float = 0.0
    locked: bool = False
    failed: int = 0
    erased: int = 0
    """Rows left out because an erasure names them."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "erased": self.erased,
            "segments": self.segments,
            "rows": self.rows,
            "parts": self.parts,
            "seconds": round(self.seconds, 4),
            "locked": self.locked,
            "failed": self.failed,
        }


class Compactor:
    """Compacts the sealed segments of ``home``'s prediction log."""

    def __init__(self, home: Path, *, row_group_rows: int = ROW_GROUP_ROWS, pii_key: bytes | None = None) -> None:
        self.home = home
        self.row_group_rows = row_group_rows
        self.pii_key = pii_key
        """The key pending erasures were hashed with (default: ``$home/pii.key`` if any)."""
        self._filter: erasures.RowFilter | None = None
        self._erased = 0
        self.erased_ids: set[str] = set()
        """Request ids of the rows pending erasures left out by the last run."""

    def run_once(self) -> CompactionResult:
        """Compact every sealed segment now (unless another process is compacting)."""
        started = time.perf_counter()
        root = log_dir(self.home)
        if not root.exists():
            return CompactionResult()
        with held_exclusively(root / LOCK_NAME) as held:
            if not held:
                return CompactionResult(locked=True, seconds=time.perf_counter() - started)
            return self.run_held(started)

    def run_held(self, started: float | None = None) -> CompactionResult:
        """``run_once`` for a caller that holds ``compact.lock`` already (erasure, retention)."""
        started = time.perf_counter() if started is None else started
        segments = rows = parts = failed = 0
        self._erased = 0
        self.erased_ids = set()
        check, pending = erasures.load(self.home)
        self._filter = None
        if pending:
            key = self.pii_key or existing_pii_key(self.home)
            if key is None or erasures.key_check(key) != check:
                logger.warning("pending erasures need the PII key they were made with; segments are kept")
                return CompactionResult(seconds=time.perf_counter() - started, failed=1)
            self._filter = erasures.RowFilter(pending, key)
        for path in list_segments(self.home):
            if path.suffix != SEALED_SUFFIX:
                continue
            try:
                written, count = self.compact_segment(path)
            except SegmentVanished:
                continue
            except (OSError, pa.ArrowException) as exc:
                failed += 1
                logger.warning("cannot compact %s (kept for the next run): %s", path.name, exc)
                continue
            segments += 1
            rows += count
            parts += written
        result = CompactionResult(
            segments, rows, parts, time.perf_counter() - started, failed=failed, erased=self._erased
        )
        if segments:
            logger.info("compacted %d segment(s): %d rows in %d part(s), %.2fs", segments, rows, parts, result.seconds)
        return result

    def compact_segment(self, path: Path) -> tuple[int, int]:
        """Write ``path``'s parts, then delete it; (parts written, rows)."""
        writers: dict[tuple[str, str], _PartWriter] = {}
        rows = 0
        frames = read_payloads(path)
        try:
            for start in range(0, len(frames), self.row_group_rows):
                chunk = [payload for _offset, payload in frames[start : start + self.row_group_rows]]
                rows += self._write_chunk(path, payloads_table(chunk), writers)
            for writer in writers.values():
                writer.commit()
        finally:
            for writer in writers.values():
                writer.abort()
        path.unlink()
        fsync_dir(path.parent)
        return len(writers), rows

    def _write_chunk(self, path: Path, table: pa.Table, writers: dict[tuple[str, str], _PartWriter]) -> int:
        """Append ``table``'s rows to the parts of their (target, day), sorted by request id."""
        if not table.num_rows:
            return 0
        if self._filter:
            drop = self._filter.erased(table)
            gone = int(pc.sum(drop).as_py() or 0)
            if gone:
                self._erased += gone
                self.erased_ids.update(str(r) for r in table.filter(drop).column("request_id").to_pylist())
                table = table.filter(pc.invert(drop))
                if not table.num_rows:
                    return 0
        targets = pc.fill_null(table.column("target"), "_unknown")
        micros = pc.multiply(pc.fill_null(table.column("time"), 0.0), 1e6)
        moments = pc.cast(micros, pa.int64(), safe=False).cast(pa.timestamp("us", "UTC"))
        days = pc.strftime(moments, format="%Y-%m-%d")
        keys = pa.table({"target": targets, "day": days})
        for group in keys.group_by(["target", "day"]).aggregate([]).to_pylist():
            target, day = str(group["target"]), str(group["day"])
            mask = pc.and_(pc.equal(targets, target), pc.equal(days, day))
            part = table.filter(mask).sort_by([("request_id", "ascending"), ("row", "ascending")])
            writer = writers.get((target, day))
            if writer is None:
                directory = log_dir(self.home) / PARQUET / target_dir_name(target) / f"day={day}"
                writer = writers[(target, day)] = _PartWriter(directory / f"{path.stem}.parquet")
            writer.write(part)
        return int(table.num_rows)


class _PartWriter:
    """One part: row groups appended to a temporary file, then fsynced and renamed."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.with_name(f".{final.name}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._done = False

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        else:
            table = _conform(table, self._schema)
            if table.schema != self._schema:
                # A later chunk brought columns or types the first did not have: rewrite
                # what was written with the unified schema (rare: one signature per version).
                self._rewrite(table)
                return
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def _rewrite(self, table: pa.Table) -> None:
        assert self._writer is not None
        self._writer.close()
        written = pq.ParquetFile(self.tmp)
        previous = [written.read_row_group(i) for i in range(written.num_row_groups)]
        unified = pa.unify_schemas([self._schema, table.schema], promote_options="permissive")
        self._schema = unified
        self._writer = pq.ParquetWriter(self.tmp, unified, compression="zstd")
        for chunk in [*previous, table]:
            self._writer.write_table(_conform(chunk, unified).cast(unified), row_group_size=max(chunk.num_rows, 1))

    def commit(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        with open(self.tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.final)
        fsync_dir(self.final.parent)
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)


def _conform(table: pa.Table, schema: pa.Schema | None) -> pa.Table:
    """``table`` with ``schema``'s columns in its order (missing ones null), when it casts;
    else ``table`` as it is (the caller unifies)."""
    if schema is None:
        return table
    if set(table.column_names) - set(schema.names):
        return table
    columns = []
    for f in schema:
        if f.name in table.column_names:
            column = table.column(f.name)
            if column.type != f.type:
                try:
                    column = column.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    # A column whose type changed (a model re-registered with another dtype):
                    # keep this part's own schema; readers concat with permissive promotion.
                    return table
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, type=f.type))
    return pa.Table.from_arrays(columns, schema=schema)


class CompactionTask:
    """Runs ``Compactor.run_once`` every ``seconds`` on a worker thread (``start``/``close``)."""

    def __init__(self, home: Path, seconds: float, *, pii_key: bytes | None = None) -> None:
        self.compactor = Compactor(home, pii_key=pii_key)
        self.last: CompactionResult | None = None
        self._periodic = Periodic("prediction log compaction", seconds, self._step)

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.stop()

    async def _step(self) -> None:
        self.last = await asyncio.to_thread(self.compactor.run_once)
