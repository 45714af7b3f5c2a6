"""Retention: each target's prediction log and feedback older than its ``retention_days``
(its controls, ``governance/controls.py``) are purged, with counts.

A run (``run_retention``; every ``retention_interval_seconds`` in a server through
``RetentionTask``, one process at a time; or ``shipyard retention run`` /
``POST /api/retention/run``):

1. seals the open segments of dead writers and compacts the sealed segments (under the
   compaction lock, so nothing is compacted behind its back), so every record but those of
   live writers' open segments (the last ``log_compact_seconds``) is in Parquet;
2. for each target with ``retention_days``: deletes its day partitions wholly older than the
   cutoff, and rewrites the cutoff's day without the rows older than it;
3. deletes the target's feedback (by prediction time) and review tickets (by creation)
   older than the cutoff, audited ``privacy.retention`` with the counts.

``dry_run`` counts without changing anything (sealed segments' records included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.errors import ShipyardError
from shipyard.fs.locks import held_exclusively
from shipyard.monitoring.predlog.compact import Compactor
from shipyard.monitoring.predlog.erased import compaction_lock, rewrite_part
from shipyard.monitoring.predlog.files import (
    PARQUET,
    SEALED_SUFFIX,
    SEGMENTS,
    SegmentVanished,
    list_parts,
    list_segments,
    log_dir,
    read_payloads,
    target_dir_name,
)
from shipyard.monitoring.predlog.segments import recover
from shipyard.registry.sql.store import RegistryStore
from shipyard.serving.periodic import Periodic

logger = logging.getLogger(__name__)

RETENTION_LOCK = "retention.lock"


@dataclass
class TargetRetention:
    target: str
    days: int
    before: datetime
    log_rows: int = 0
    feedback: int = 0
    reviews: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "retention_days": self.days,
            "before": self.before.isoformat(),
            "log_rows": self.log_rows,
            "feedback": self.feedback,
            "reviews": self.reviews,
        }


@dataclass
class RetentionReport:
    dry_run: bool = False
    locked: bool = False
    """Another process was running retention: nothing was done."""
    targets: list[TargetRetention] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "log_rows": sum(t.log_rows for t in self.targets),
            "feedback": sum(t.feedback for t in self.targets),
            "reviews": sum(t.reviews for t in self.targets),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "locked": self.locked,
            "targets": [t.to_dict() for t in self.targets],
            "totals": self.totals(),
        }


def run_retention(
    home: Path,
    store: RegistryStore,
    *,
    actor: str,
    source: str = "local",
    dry_run: bool = False,
    now: datetime | None = None,
    pii_key: bytes | None = None,
) -> RetentionReport:
    """Purge every target's data past its ``retention_days``; the counts per target."""
    now = now or datetime.now(UTC)
    policies = {
        target: stored.controls.retention_days
        for target, stored in store.controls.all().items()
        if stored.controls.retention_days is not None
    }
    report = RetentionReport(dry_run=dry_run)
    if not policies:
        return report  # nothing to purge: no lock, no compaction (the server's hourly run on most homes)
    root = log_dir(home)
    with held_exclusively(root / RETENTION_LOCK) as held:
        if not held:
            report.locked = True
            return report
        if not dry_run and root.exists():
            with compaction_lock(home):
                recover(root / SEGMENTS)
                Compactor(home, pii_key=pii_key).run_held()
                for target, days in sorted(policies.items()):
                    report.targets.append(_purge_log(home, target, days, now))
        elif not dry_run:
            report.targets = [TargetRetention(t, d, now - timedelta(days=d)) for t, d in sorted(policies.items())]
        else:
            for target, days in sorted(policies.items()):
                entry = TargetRetention(target, days, now - timedelta(days=days))
                entry.log_rows = _count_log(home, target, entry.before.timestamp())
                report.targets.append(entry)
        for entry in report.targets:
            if dry_run:
                counts = store.privacy.count_older(entry.target, entry.before)
            else:
                counts = store.privacy.purge(
                    entry.target, entry.before, days=entry.days, log_rows=entry.log_rows, actor=actor, source=source
                )
            entry.feedback, entry.reviews = counts["feedback"], counts["reviews"]
    return report


def _purge_log(home: Path, target: str, days: int, now: datetime) -> TargetRetention:
    before = now - timedelta(days=days)
    entry = TargetRetention(target, days, before)
    cutoff = before.timestamp()
    cutoff_day = before.strftime("%Y-%m-%d")
    for part in list_parts(home, target):
        if part.day > cutoff_day:
            continue
        try:
            if part.day < cutoff_day:
                rows = pq.ParquetFile(part.path).metadata.num_rows
                part.path.unlink(missing_ok=True)
                entry.log_rows += rows
                continue
            table = pq.read_table(part.path)
            old = pc.fill_null(pc.less(pc.fill_null(table.column("time"), 0.0), cutoff), True)
            gone, _rows = rewrite_part(part.path, old, table=table)
            entry.log_rows += gone
        except (OSError, ValueError) as exc:
            logger.warning("retention: cannot purge %s (kept for the next run): %s", part.path.name, exc)
    for directory in {p.path.parent for p in list_parts(home, target)} | _day_dirs(home, target):
        _remove_if_empty(directory)
    return entry


def _day_dirs(home: Path, target: str) -> set[Path]:
    base = log_dir(home) / PARQUET / target_dir_name(target)
    try:
        return {p for p in base.iterdir() if p.is_dir()}
    except FileNotFoundError:
        return set()


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):
        directory.rmdir()


def _count_log(home: Path, target: str, cutoff: float) -> int:
    """Rows of ``target`` older than ``cutoff`` in Parquet and sealed segments (dry runs)."""
    total = 0
    for part in list_parts(home, target):
        try:
            table = pq.read_table(part.path, columns=["time"])
        except (OSError, ValueError):
            continue
        total += int(pc.sum(pc.less(pc.fill_null(table.column("time"), 0.0), cutoff)).as_py() or 0)
    for path in list_segments(home):
        if path.suffix != SEALED_SUFFIX:
            continue
        try:
            frames = read_payloads(path)
        except SegmentVanished:
            continue
        for _offset, payload in frames:
            record = orjson.loads(payload)
            if (record.get("target") or record.get("model")) == target and float(record.get("time") or 0) < cutoff:
                total += max(int(record.get("rows") or 0), 1)
    return total


class RetentionTask:
    """``run_retention`` every ``seconds`` in a server, on a thread (one process at a time)."""

    def __init__(self, home: Path, store: RegistryStore, seconds: float, *, pii_key: bytes | None = None) -> None:
        self.home = home
        self.store = store
        self.pii_key = pii_key
        self.last: RetentionReport | None = None
        self._periodic = Periodic("retention", seconds, self._step)

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.stop()

    async def _step(self) -> None:
        try:
            self.last = await asyncio.to_thread(self._run)
        except ShipyardError as exc:
            logger.warning("retention run failed (next run in its time): %s", exc.message)

    def _run(self) -> RetentionReport:
        started = time.perf_counter()
        report = run_retention(self.home, self.store, actor="system:retention", source="server", pii_key=self.pii_key)
        totals = report.totals()
        if any(totals.values()):
            logger.info(
                "retention purged %d log row(s), %d feedback fact(s), %d review ticket(s) in %.2fs",
                totals["log_rows"],
                totals["feedback"],
                totals["reviews"],
                time.perf_counter() - started,
            )
        return report
